"""Every shipped codec: files coded in batches and thread counts decode to the same image in others.

    .venv/bin/python benchmarks/decode_everywhere.py [--scenes 1000] [--only hyperprior tcic-notext]

Each shipped codec (cpu profile) codes `--scenes` held-out scenes in batches of 1000 (2 threads)
and 25 (1 thread); every file is decoded in the whole batch (2 threads) and alone (1 thread).
Prints one line per codec and the total of (file, decode setting) pairs checked; any desync
raises (`tcic_lib.bitstream.decodes_alike`). Writes build/decode_everywhere.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from tcic_lib import shipping
from tcic_lib.architectures import model_from_checkpoint
from tcic_lib.bitstream import decodes_alike
from tcic_lib.config import profile
from tcic_lib.evaluate import shapes_test_scenes
from tcic_lib.text import minclip_encoder
from tcic_lib.zoo import minclip_recipe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=Path("build"))
    parser.add_argument("--only", nargs="*", default=[], help="shipped codecs whose names start with these")
    args = parser.parse_args()
    p = profile("cpu")
    images, captions, _ = shapes_test_scenes(p, n=args.scenes, seed=4242)
    encodings, decodings = ((args.scenes, 2), (25, 1)), ((args.scenes, 2), (1, 1))
    results, total = {}, 0
    with tempfile.TemporaryDirectory() as tmp:
        key = minclip_recipe(p).key()
        shipping.install_shipped(key, Path(tmp) / f"{key}.pt")
        encoder = minclip_encoder(Path(tmp) / f"{key}.pt")
        for key, entry in sorted(shipping.shipped_manifest().items()):
            if entry.get("kind") not in ("codec", "tcic", "gan") or (args.only and not key.startswith(tuple(args.only))):
                continue
            path = Path(tmp) / f"{key}.pt"
            shipping.install_shipped(key, path)
            start = time.perf_counter()
            pairs = decodes_alike(model_from_checkpoint(path), images, captions, encoder, encodings, decodings)
            results[key] = {"pairs": pairs, "seconds": round(time.perf_counter() - start, 1)}
            total += pairs
            print(f"{key:40s} {pairs:7d} pairs decode alike ({results[key]['seconds']:.0f} s)", flush=True)
    print(f"{len(results)} shipped codecs, {total} (file, decode setting) pairs, 0 mismatches")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "decode_everywhere.json").write_text(json.dumps({"total_pairs": total, "codecs": results}, indent=1))


if __name__ == "__main__":
    main()

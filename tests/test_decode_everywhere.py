"""A file decodes to the same image whatever the batch size and thread count, or fails loudly.

A shipped codec of each kind whose coding path differs (factorized; hyperprior; TCIC, whose decoder
reads the caption; its text-free twin; the caption at both ends, whose encoder and means read it)
codes 400 held-out scenes in batches of two sizes with 2 and 1 threads; every file is decoded in
the whole batch and alone with one thread, and must give the same image each time (8,000 file and
decode-setting pairs and more). `benchmarks/decode_everywhere.py` runs every shipped codec.
"""

import dataclasses
import struct
import zlib

import pytest
import torch

from tcic_lib import shipping
from tcic_lib.architectures import model_from_checkpoint
from tcic_lib.bitstream import BitstreamError, decode_batch, decodes_alike, encode_batch, pack, unpack
from tcic_lib.config import profile
from tcic_lib.evaluate import shapes_test_scenes

SCENES = 400
ENCODINGS = ((SCENES, 2), (25, 1))  # (batch size, threads)
DECODINGS = ((SCENES, 2), (1, 1))
KINDS = ("factorized", "hyperprior", "tcic", "notext", "conditional")
# the fusion blocks change only g_s, after the symbols are decoded: the ordinary rates' (SSA) and the ultra-low
# rates' (pxattn) stand for them here; the benchmark runs every shipped one
FUSIONS = ("none", "ssa", "pxattn")


def shipped_codecs(kinds=None, fusions=None) -> dict[str, str]:
    """A shipped codec of every variant and fusion (of `kinds` and `fusions` if given), by `variant/fusion`: its
    manifest key."""
    chosen = {}
    for key, entry in sorted(shipping.shipped_manifest().items()):
        fusion = entry.get("fusion", "none")
        if (entry.get("kind") in ("codec", "tcic") and entry.get("fingerprint")
                and entry["variant"] in (kinds or [entry["variant"]]) and fusion in (fusions or [fusion])):
            chosen.setdefault(f"{entry['variant']}/{fusion}", key)
    return chosen


CODECS = shipped_codecs(KINDS, FUSIONS)


@pytest.fixture(scope="module")
def scenes():
    images, captions, _ = shapes_test_scenes(profile("cpu"), n=SCENES, seed=777)
    return images, captions


@pytest.fixture(scope="module")
def text_encoder(tmp_path_factory):
    from tcic_lib.text import minclip_encoder
    from tcic_lib.zoo import minclip_recipe

    key = minclip_recipe(profile("cpu")).key()
    path = tmp_path_factory.mktemp("minclip") / f"{key}.pt"
    assert shipping.install_shipped(key, path)
    return minclip_encoder(path)


def _shipped_model(key, tmp_path):
    path = tmp_path / f"{key}.pt"
    assert shipping.install_shipped(key, path)
    return model_from_checkpoint(path)


def test_a_shipped_codec_of_every_architecture_is_covered():
    assert {"factorized", "hyperprior", "tcic", "notext", "conditional"} <= {name.split("/")[0] for name in CODECS}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CODECS))
def test_files_decode_the_same_in_any_batch_and_thread_count(name, scenes, text_encoder, tmp_path):
    model = _shipped_model(CODECS[name], tmp_path)
    images, captions = scenes
    pairs = decodes_alike(model, images, captions, text_encoder, ENCODINGS, DECODINGS)  # raises on any desync
    assert pairs == SCENES * len(ENCODINGS) * len(DECODINGS)


def _with_payload_byte_changed(data: bytes, offset: int) -> bytes:
    h = unpack(data)
    string = bytearray(h.strings[0])
    string[offset % len(string)] ^= 0x5A
    body = pack(dataclasses.replace(h, strings=(bytes(string),)))[:-4]
    return body + struct.pack(">I", zlib.crc32(body))  # the container's CRC is valid again


def test_altered_symbols_fail_loudly_even_with_a_valid_container_crc(scenes, text_encoder, tmp_path):
    key = CODECS[next(n for n in CODECS if n.startswith("hyperprior"))]
    model = _shipped_model(key, tmp_path)
    images, _ = scenes
    files = encode_batch(model, images[:40])
    clean = decode_batch(model, files)
    raised = 0
    for i, data in enumerate(files):
        altered = _with_payload_byte_changed(data, 7 * i + 3)
        try:
            image = decode_batch(model, [altered])[0]
        except BitstreamError as err:
            assert "fail their check" in str(err) or "implausible" in str(err)
            raised += 1
            continue
        assert torch.allclose(image, clean[i], atol=1e-5)  # if it decodes at all, it is the very same image
    assert raised >= 30


def test_a_decoder_that_reads_with_other_tables_raises(scenes, tmp_path, monkeypatch):
    from tcic_lib import models

    key = CODECS[next(n for n in CODECS if n.startswith("hyperprior"))]
    model = _shipped_model(key, tmp_path)
    files = encode_batch(model, scenes[0][:5])
    real = models.scale_indexes

    def off_by_one(scales, table):  # what a float hyper-synthesis does on another machine, once in a while
        indexes = real(scales, table)
        indexes.view(-1)[0] = (indexes.view(-1)[0] + 1) % len(table)
        return indexes

    monkeypatch.setattr(models, "scale_indexes", off_by_one)
    with pytest.raises(BitstreamError, match="fail their check"):
        decode_batch(model, files)

"""Screenshots of the exported course, taken headless: the index page and two notebooks.

    python scripts/screenshot_course.py [build/course] [--out build/screenshots]

Needs a Chromium (Debian: `apt-get install chromium`). Shows what a learner's exported pages look
like: the index with each notebook's goals and wall time, finished text progress bars, the wrap-ups.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

PAGES = ("index.html", "01_entropy_models.html", "05_tcic.html")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("course", nargs="?", type=Path, default=Path("build/course"))
    parser.add_argument("--out", type=Path, default=Path("build/screenshots"))
    parser.add_argument("--height", type=int, default=4000, help="page height in pixels (long notebooks need more)")
    args = parser.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        raise SystemExit("no Chromium found: apt-get install chromium")
    args.out.mkdir(parents=True, exist_ok=True)
    for page in PAGES:
        if not (args.course / page).is_file():
            print(f"{args.course / page}: not exported, skipped")
            continue
        target = args.out / f"{Path(page).stem}.png"
        height = 1600 if page == "index.html" else args.height
        subprocess.run([browser, *FLAGS, f"--window-size=1280,{height}", f"--screenshot={target}",
                        (args.course / page).resolve().as_uri()], check=True, capture_output=True, timeout=120)
        print(target)


if __name__ == "__main__":
    main()

"""The `tcic` command line: one subcommand per job, each with its own --help."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def _info(args: argparse.Namespace) -> int:
    import torch

    from . import __version__
    from .config import device, profile
    from .pretrained import weights_report

    p = profile(args.profile)
    print(f"tcic-course {__version__}, torch {torch.__version__}, device {device()}")
    print(f"profile {p.name}: {p}")
    for w in weights_report():
        print(f"  {w.name}: {w.path if w.available else 'missing (' + w.reason + ')'}")
    return 0


def _course(args: argparse.Namespace) -> int:
    from .course import build_course

    index = build_course(Path(args.notebooks), Path(args.out), args.only)
    print(index)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tcic", description="Perceptual image compression with text as decoder-side information."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    info = sub.add_parser("info", help="show the profile, device and which pretrained weights are present")
    info.add_argument("--profile", help="quick, cpu or gpu (default: $TCIC_PROFILE or auto)")
    info.set_defaults(func=_info)

    course = sub.add_parser("course", help="execute every notebook and render it to HTML")
    course.add_argument("--notebooks", default="notebooks", help="folder of NN_topic.ipynb files")
    course.add_argument("--out", default="build/course", help="output folder")
    course.add_argument("--only", nargs="*", help="run only notebooks starting with these prefixes")
    course.set_defaults(func=_course)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"tcic {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

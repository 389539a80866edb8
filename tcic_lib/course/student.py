"""Student versions of the notebooks: nbgrader-style solution regions replaced by `raise NotImplementedError`.

In a notebook source, an exercise is a cell with

    ### BEGIN SOLUTION
    ...the instructor's code...
    ### END SOLUTION

followed by a check cell (asserts that pass with the solution). `make student` writes one
notebook per source that has exercises to build/student/, each region replaced by
`raise NotImplementedError` at the region's indentation, so the check cell fails until the
learner writes the code. The regions also work with nbgrader's `ClearSolutions` as they are.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

SOLUTION = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION[ \t]*\n(?P<body>.*?)^[ \t]*### END SOLUTION[ \t]*\n",
                      re.MULTILINE | re.DOTALL)
PLACEHOLDER = "raise NotImplementedError  # your code here"


def solution_regions(source: str) -> list[str]:
    """The bodies of every solution region in a notebook source."""
    return [m.group("body") for m in SOLUTION.finditer(source)]


def strip_solutions(source: str) -> str:
    """The source with each solution region replaced by an indented `raise NotImplementedError`."""
    if source.count("### BEGIN SOLUTION") != source.count("### END SOLUTION"):
        raise ValueError("unbalanced ### BEGIN SOLUTION / ### END SOLUTION markers")
    return SOLUTION.sub(lambda m: f"{m.group('indent')}{PLACEHOLDER}\n", source)


def make_student(notebooks: Path, out: Path) -> list[Path]:
    """Write a student .ipynb for every `NN_topic.py` with exercises; return their paths."""
    import jupytext

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sorted(Path(notebooks).glob("[0-9][0-9]_*.py")):
        text = source.read_text(encoding="utf-8")
        if not solution_regions(text):
            continue
        notebook = jupytext.reads(strip_solutions(text), fmt="py:percent")
        target = out / source.with_suffix(".ipynb").name
        jupytext.write(notebook, target, fmt="ipynb")
        written.append(target)
    return written


if __name__ == "__main__":
    notebooks_dir, out_dir = (Path(a) for a in (sys.argv[1:] + ["notebooks", "build/student"])[:2])
    for path in make_student(notebooks_dir, out_dir):
        print(path)

"""An nbgrader course made from the notebook sources: the instructor's path to graded assignments.

`make nbgrader` writes build/nbgrader/ with `nbgrader_config.py` and `source/NN_topic/NN_topic.ipynb`
for every notebook with exercises. Each exercise cell (its `### BEGIN SOLUTION` region) becomes an
nbgrader *answer* cell and the check cell after it a *graded test* cell worth one point, so

    cd build/nbgrader
    nbgrader generate_assignment 05_tcic     # release/: solutions cut, the stub students see
    nbgrader autograde 05_tcic               # submitted/<student>/05_tcic/ -> autograded/ and the gradebook

work as nbgrader documents them (ClearSolutions leaves `raise NotImplementedError  # your code here`,
the same stub as `make student`). `exercises_only=True` keeps only the setup cells and the exercises
with their checks: a short sheet that grades in seconds.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from .student import PLACEHOLDER, solution_regions

POINTS = 1  # per check cell
SETUP_CELLS = 2  # every notebook starts with the Colab cell and the imports
CONFIG = f'''c = get_config()  # noqa: F821  (nbgrader's configuration object)
c.CourseDirectory.course_id = "tcic-course"
c.ClearSolutions.code_stub = {{"python": "{PLACEHOLDER}"}}
c.ClearSolutions.enforce_metadata = True  # every solution region sits in a cell marked as one
c.Execute.timeout = 600  # seconds per cell when autograding
'''


def _exercise_name(source: str) -> str:
    match = re.search(r"^\s*(?:def|class)\s+(\w+)", source, re.MULTILINE)
    return match.group(1) if match else "exercise"


def _mark(cell, **fields) -> None:
    cell.metadata["nbgrader"] = {"schema_version": 3, "task": False, "locked": False, **fields}


def graded_notebook(source: Path, exercises_only: bool = False):
    """The notebook of a jupytext source with nbgrader's metadata on each exercise and its check."""
    import jupytext

    nb = jupytext.read(source)
    code = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    keep = set(code[:SETUP_CELLS])
    for position, index in enumerate(code):
        cell = nb.cells[index]
        if not solution_regions(cell.source + "\n"):
            continue
        name = _exercise_name(cell.source)
        _mark(cell, solution=True, grade=False, grade_id=name)
        check = nb.cells[code[position + 1]]
        _mark(check, solution=False, grade=True, grade_id=f"check_{name}", points=POINTS, locked=True)
        keep |= {index, code[position + 1]}
    if exercises_only:
        nb.cells = [cell for i, cell in enumerate(nb.cells) if i in keep]
    return nb


def write_course(notebooks: Path, out: Path, only: list[str] | None = None, exercises_only: bool = False) -> list[Path]:
    """An nbgrader course folder: its config and one assignment per notebook with exercises (or those in `only`)."""
    import nbformat

    out.mkdir(parents=True, exist_ok=True)
    (out / "nbgrader_config.py").write_text(CONFIG)
    written = []
    for source in sorted(Path(notebooks).glob("[0-9][0-9]_*.py")):
        if (only and source.stem not in only) or not solution_regions(source.read_text(encoding="utf-8")):
            continue
        target = out / "source" / source.stem / f"{source.stem}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(graded_notebook(source, exercises_only), target)
        written.append(target)
    return written


if __name__ == "__main__":
    notebooks_dir, out_dir = (Path(a) for a in (sys.argv[1:] + ["notebooks", "build/nbgrader"])[:2])
    for path in write_course(notebooks_dir, out_dir):
        print(path)

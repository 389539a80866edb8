"""The instructor's path with nbgrader: generate an assignment, autograde a solved and a stub submission."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tcic_lib.course.nbgrader import graded_notebook, write_course
from tcic_lib.course.student import PLACEHOLDER

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def test_every_exercise_and_check_carry_nbgrader_metadata():
    nb = graded_notebook(NOTEBOOKS / "05_tcic.py")
    marked = [c.metadata["nbgrader"] for c in nb.cells if "nbgrader" in c.metadata]
    answers, checks = [m for m in marked if m["solution"]], [m for m in marked if m["grade"]]
    assert {m["grade_id"] for m in answers} == {"MyPlaceAttention", "my_bits_saved"}
    assert [m["grade_id"] for m in checks] == [f"check_{m['grade_id']}" for m in answers]
    assert all(m["points"] == 1 and m["locked"] for m in checks)


@pytest.mark.slow
def test_generate_assignment_then_autograde_full_and_zero_points(tmp_path, cache):
    course = tmp_path / "course"
    write_course(NOTEBOOKS, course, only=["05_tcic"], exercises_only=True)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # nbgrader runs alembic
    nbgrader = [sys.executable, "-m", "nbgrader"]
    subprocess.run([*nbgrader, "generate_assignment", "05_tcic", "--force"], cwd=course, env=env, check=True,
                   capture_output=True)
    released = course / "release" / "05_tcic" / "05_tcic.ipynb"
    text = released.read_text()
    assert PLACEHOLDER in text and "BEGIN SOLUTION" not in text
    for student, notebook in (("solved", course / "source" / "05_tcic" / "05_tcic.ipynb"), ("stub", released)):
        (course / "submitted" / student / "05_tcic").mkdir(parents=True)
        shutil.copy(notebook, course / "submitted" / student / "05_tcic" / "05_tcic.ipynb")
    subprocess.run([*nbgrader, "autograde", "05_tcic", "--force"], cwd=course, env=env, check=True, capture_output=True)
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        solved, stub = (gradebook.find_submission("05_tcic", s) for s in ("solved", "stub"))
        assert solved.score == solved.max_score == 2 and stub.score == 0
    graded = nbformat.read(course / "autograded" / "stub" / "05_tcic" / "05_tcic.ipynb", as_version=4)
    assert any("NotImplementedError" in str(c.get("outputs", "")) for c in graded.cells)

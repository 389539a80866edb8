from pathlib import Path

import jupytext
import pytest
import torch

from tcic_lib.course.student import PLACEHOLDER, make_student, solution_regions, strip_solutions

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
REQUIRED = {  # exercise -> notebook that holds it
    "def my_noise_proxy": "01_entropy_models", "def my_rate_bits": "01_entropy_models",
    "def my_bd_rate": "02_hyperprior", "class MySSA": "04_ssa_block", "def my_bits_saved": "05_tcic",
    "def my_d_hinge": "06_adversarial_finetuning",
}


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    return {p.stem: p for p in make_student(NOTEBOOKS, out)}


def test_one_student_notebook_per_source_with_exercises(student):
    with_exercises = {p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.py") if solution_regions(p.read_text())}
    assert set(student) == with_exercises >= set(REQUIRED.values())


def test_no_solution_code_leaks(student):
    for name, path in student.items():
        text = path.read_text()
        assert "BEGIN SOLUTION" not in text and PLACEHOLDER in text
        for region in solution_regions((NOTEBOOKS / f"{name}.py").read_text()):
            for line in filter(None, (line.strip() for line in region.splitlines())):
                assert line not in text, f"{name}: solution line leaked: {line}"


def _exercise_and_check(source: str, marker: str) -> tuple[str, str]:
    """The code cell defining `marker` and the code cell after it (its check)."""
    cells = [c.source for c in jupytext.reads(source, fmt="py:percent").cells if c.cell_type == "code"]
    index = next(i for i, c in enumerate(cells) if marker in c)
    return cells[index], cells[index + 1]


@pytest.mark.parametrize("marker", ["def my_d_hinge", "def my_rate_bits", "def my_bits_saved"])
def test_check_fails_for_students_and_passes_with_the_solution(marker):
    import numpy as np

    from tcic_lib.ledger import rate_at
    from tcic_lib.losses import d_hinge_loss
    from tcic_lib.quantization import estimated_bits

    source = (NOTEBOOKS / f"{REQUIRED[marker]}.py").read_text()
    for version, should_pass in ((source, True), (strip_solutions(source), False)):
        exercise, check = _exercise_and_check(version, marker)
        namespace = {"torch": torch, "g": torch.Generator().manual_seed(0), "d_hinge_loss": d_hinge_loss,
                     "estimated_bits": estimated_bits, "np": np, "rate_at": rate_at}
        exec(exercise, namespace)
        if should_pass:
            exec(check, namespace)
        else:
            with pytest.raises(NotImplementedError):
                exec(check, namespace)


def test_unbalanced_markers_are_an_error():
    with pytest.raises(ValueError, match="unbalanced"):
        strip_solutions("    ### BEGIN SOLUTION\n    x = 1\n")

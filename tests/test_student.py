from pathlib import Path

import jupytext
import pytest
import torch

from tcic_lib.course.student import PLACEHOLDER, make_student, solution_regions, strip_solutions

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
REQUIRED = {  # exercise -> notebook that holds it
    "def my_noise_proxy": "01_entropy_models", "def my_rate_bits": "01_entropy_models",
    "def my_bd_rate": "02_hyperprior", "def my_gaussian_likelihood": "02_hyperprior",
    "def my_prefers_true_caption": "03_clip_text_features", "class MySSA": "04_ssa_block",
    "def my_bits_saved": "05_tcic", "def my_d_hinge": "06_adversarial_finetuning",
    "def my_frechet_distance": "07_evaluation", "def my_cost_of": "08_ablations_and_play",
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


@pytest.fixture(scope="module")
def setups():
    """Each notebook's first code cells (the Colab cell, a no-op here, and the imports and profile), run once."""
    namespaces = {}

    def setup(notebook: str, source: str) -> dict:
        if (notebook, source) not in namespaces:
            cells = [c.source for c in jupytext.reads(source, fmt="py:percent").cells if c.cell_type == "code"]
            namespace: dict = {}
            for cell in cells[:2]:
                exec(cell, namespace)
            namespaces[notebook, source] = namespace
        return dict(namespaces[notebook, source])

    return setup


@pytest.mark.slow
@pytest.mark.parametrize("marker", list(REQUIRED))
def test_check_fails_for_students_and_passes_with_the_solution(marker, setups, monkeypatch, tmp_path_factory):
    monkeypatch.setenv("TCIC_CACHE", str(tmp_path_factory.getbasetemp() / "student-cache"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = REQUIRED[marker]
    source = (NOTEBOOKS / f"{notebook}.py").read_text()
    for version, should_pass in ((source, True), (strip_solutions(source), False)):
        exercise, check = _exercise_and_check(version, marker)
        namespace = setups(notebook, source)
        exec(exercise, namespace)
        if should_pass:
            exec(check, namespace)
        else:
            with pytest.raises(NotImplementedError):
                exec(check, namespace)


def test_unbalanced_markers_are_an_error():
    with pytest.raises(ValueError, match="unbalanced"):
        strip_solutions("    ### BEGIN SOLUTION\n    x = 1\n")

"""Notebook sources (.py, jupytext percent) and their committed .ipynb stay paired and clean."""

import jupytext
import nbformat
import pytest

from tests.conftest import ROOT

SOURCES = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))


def _cells(nb):
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def test_there_are_notebooks():
    assert SOURCES, "no notebooks/NN_topic.py sources found"


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.stem)
def test_ipynb_matches_source(src):
    nb_path = src.with_suffix(".ipynb")
    assert nb_path.exists(), f"{nb_path.name} missing: run `make sync`"
    committed = nbformat.read(nb_path, as_version=4)
    assert _cells(committed) == _cells(jupytext.read(src)), f"{nb_path.name} out of sync: run `make sync`"


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.stem)
def test_ipynb_has_no_outputs(src):
    nb = nbformat.read(src.with_suffix(".ipynb"), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, "commit notebooks without outputs"


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.stem)
def test_every_notebook_opens_with_the_same_colab_setup(src):
    def setup_cell(path):
        return next(c.source for c in jupytext.read(path).cells if "google.colab" in c.source)

    assert setup_cell(src) == setup_cell(SOURCES[0])
    assert '"-m", "tcic_lib.course.colab"' in setup_cell(src)  # the installer tests/test_colab.py runs

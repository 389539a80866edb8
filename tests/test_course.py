"""`tcic course` completes whatever a cell does, reports failures by notebook and cell, and resumes."""

import json

import jupytext
import nbformat
import pytest

from tcic_lib.cli import main
from tcic_lib.course.sync import sync_folder


def _notebook(path, *cells):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.mark.slow
def test_course_survives_a_slow_cell_and_skips_what_is_done(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")  # as `make test` runs
    notebooks, out = tmp_path / "nb", tmp_path / "out"
    notebooks.mkdir()
    _notebook(notebooks / "00_fast.ipynb", "x = 1 + 1", "print('done', x)",
              "from tcic_lib.progress import tqdm\nfor _ in tqdm(range(3), desc='work'): pass",
              "import matplotlib.pyplot as plt\nplt.plot([0, 1])\nplt.show()")
    _notebook(notebooks / "01_slow.ipynb", "import time", "time.sleep(30)  # a training cell on a slow machine")
    args = ["course", "--notebooks", str(notebooks), "--out", str(out), "--cell-timeout", "2"]

    assert main(args) == 1  # finished, but says a notebook failed
    report = capsys.readouterr().out
    assert "01_slow.ipynb, cell 1 ('time.sleep(30)" in report and "CellTimeoutError" in report
    assert "1 of 2 notebooks done" in report
    index = (out / "index.html").read_text()
    assert "failed" in index and "00_fast" in index and "01_slow" in index
    assert (out / "01_slow.html").is_file()  # the partial notebook is kept
    executed = nbformat.read(out / "00_fast.ipynb", as_version=4)
    assert "done 2" in executed.cells[1].outputs[0]["text"]
    bar = executed.cells[2].outputs[0]["text"]
    assert "3/3" in bar and "0/3" not in bar  # a text bar, kept in its last state for the exported page
    assert any("image/png" in o.get("data", {}) for o in executed.cells[3].outputs)  # even under MPLBACKEND=Agg

    assert main(args) == 1
    rerun = capsys.readouterr().out
    assert "00_fast" in rerun.split("skipped")[0]  # not executed again
    assert json.loads((out / "00_fast.run.json").read_text())["status"] == "ran"

    _notebook(notebooks / "00_fast.ipynb", "x = 2 + 2", "print('done', x)")  # an edited source runs again
    assert main(args[:-2] + ["--only", "00"]) == 0
    assert "done 4" in nbformat.read(out / "00_fast.ipynb", as_version=4).cells[1].outputs[0]["text"]


def test_sync_writes_paired_notebooks_without_outputs(tmp_path, root):
    for source in sorted((root / "notebooks").glob("0[01]_*.py")):
        (tmp_path / source.name).write_text(source.read_text())
        (tmp_path / source.with_suffix(".ipynb").name).write_text(source.with_suffix(".ipynb").read_text())
    first = sorted(tmp_path.glob("*.py"))[0]
    (tmp_path / first.name).write_text(first.read_text() + "\n# %%\nprint('a new cell')\n")
    written = sync_folder(tmp_path)
    assert [p.suffix for p in written] == [".ipynb", ".ipynb"]
    for path in written:
        nb = nbformat.read(path, as_version=4)
        paired = jupytext.read(path.with_suffix(".py"))
        assert [c.source for c in nb.cells] == [c.source for c in paired.cells]
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")
    committed = nbformat.read(root / "notebooks" / written[0].name, as_version=4)
    assert nbformat.read(written[0], as_version=4).cells[0].id == committed.cells[0].id  # unchanged cells keep ids


def test_the_index_renders_the_goals_markdown():
    from tcic_lib.course.runner import _inline_markdown

    assert _inline_markdown("a **bits ledger**, `zoo.fetch` and <script>") == (
        "a <strong>bits ledger</strong>, <code>zoo.fetch</code> and &lt;script&gt;")


def test_exported_pages_typeset_math_offline(tmp_path):
    from tcic_lib.course.runner import mathjax_head, mathjax_url

    url = mathjax_url(tmp_path)
    assert not url.startswith("http") and (tmp_path / url.split("?")[0]).is_file()  # a copy beside the pages
    assert (tmp_path / "mathjax" / "config" / "TeX-AMS-MML_HTMLorMML-full.js").is_file()  # the config it names
    assert "inlineMath" in mathjax_head(tmp_path)  # $H(T)$ on the index is typeset as in the notebooks' own

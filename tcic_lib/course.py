"""Execute the course notebooks in order and render them to HTML (`make course`).

Each notebook runs in a fresh kernel, as a learner would run it, so no notebook depends
on another one's state.
"""

from __future__ import annotations

import html
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NotebookRun:
    """One executed notebook: where its outputs went and how long it took."""

    source: Path
    executed: Path
    html: Path
    seconds: float


def course_notebooks(folder: Path) -> list[Path]:
    """The course's notebooks in order (`NN_topic.ipynb`)."""
    return sorted(folder.glob("[0-9][0-9]_*.ipynb"))


def execute_notebook(path: Path, out_dir: Path, timeout: int = 3600) -> NotebookRun:
    """Run one notebook top to bottom in its own folder; save it and its HTML to `out_dir`."""
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter
    from tqdm.auto import tqdm

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    start = time.perf_counter()
    code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    with client.setup_kernel():
        for index in tqdm(code_cells, desc=path.stem, unit="cell", leave=False):
            client.execute_cell(nb.cells[index], index)
    seconds = time.perf_counter() - start
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = out_dir / path.name
    nbformat.write(nb, executed)
    body, _ = HTMLExporter().from_notebook_node(nb)
    rendered = executed.with_suffix(".html")
    rendered.write_text(body, encoding="utf-8")
    return NotebookRun(path, executed, rendered, seconds)


def write_index(runs: list[NotebookRun], out_dir: Path, profile_name: str) -> Path:
    """An index.html linking every executed notebook."""
    rows = "\n".join(
        f'<li><a href="{html.escape(r.html.name)}">{html.escape(r.source.stem)}</a> '
        f'(<a href="{html.escape(r.executed.name)}">ipynb</a>, {r.seconds:.0f} s)</li>'
        for r in runs
    )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>tcic-course</title></head>"
        f"<body><h1>tcic-course, executed with the <code>{html.escape(profile_name)}</code> profile</h1>"
        f"<ol>\n{rows}\n</ol></body></html>\n"
    )
    index = out_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def build_course(notebooks: Path, out_dir: Path, only: list[str] | None = None) -> Path:
    """Execute the course (or the notebooks whose names start with one of `only`)."""
    from tqdm.auto import tqdm

    from .config import profile

    paths = [p for p in course_notebooks(notebooks) if not only or p.stem.startswith(tuple(only))]
    if not paths:
        raise FileNotFoundError(f"no course notebooks (NN_topic.ipynb) in {notebooks}")
    # the kernels inherit the profile this process resolved, so every notebook uses the same one
    name = profile().name
    os.environ.setdefault("TCIC_PROFILE", name)
    runs = []
    for path in tqdm(paths, desc="course", unit="notebook"):
        runs.append(execute_notebook(path, out_dir))
        log.info("%s: %.1f s", path.name, runs[-1].seconds)
    return write_index(runs, out_dir, name)

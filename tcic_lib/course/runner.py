"""Execute the course notebooks in order and render them to HTML (`make course`, `tcic course`).

Each notebook runs in a fresh kernel, as a learner would run it, so no notebook depends on
another one's state. Cells have no time limit by default: a training cell takes as long as
the machine needs (`cell_timeout` sets one). A failing notebook does not stop the course: its
partial output is saved, the index names the cell that failed, and the run goes on. A rerun
skips every notebook already exported from the same sources, profile and model cache
(`force=True` redoes them).
"""

from __future__ import annotations

import hashlib
import importlib.util
import html
import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)

LIBRARY = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class NotebookRun:
    """One notebook of the course run: where its outputs went, how long it took and how it ended."""

    source: Path
    executed: Path
    html: Path
    seconds: float
    status: str  # "ran", "skipped" (exported before from the same inputs) or "failed"
    error: str = ""  # for "failed": which cell, and what it raised

    @property
    def ok(self) -> bool:
        return self.status != "failed"


def course_notebooks(folder: Path) -> list[Path]:
    """The course's notebooks in order (`NN_topic.ipynb`)."""
    return sorted(Path(folder).glob("[0-9][0-9]_*.ipynb"))


def fingerprint(path: Path, profile_name: str) -> str:
    """What an exported notebook depends on: its own text, the library, the shipped models, profile, cache."""
    from ..shipping import shipped_dir
    from ..zoo import cache_dir

    digest = hashlib.sha256(Path(path).read_bytes())
    for source in sorted(LIBRARY.rglob("*.py")):
        digest.update(source.read_bytes())
    manifest = shipped_dir() / "manifest.json"
    if manifest.is_file():
        digest.update(manifest.read_bytes())
    digest.update(f"{profile_name}\n{cache_dir().resolve()}".encode())
    return digest.hexdigest()


def _stamp(out_dir: Path, path: Path) -> Path:
    return out_dir / f"{path.stem}.run.json"


def _cell_error(path: Path, index: int, source: str, err: Exception) -> str:
    first_line = next((line for line in source.splitlines() if line.strip()), "")
    if getattr(err, "ename", None):  # a CellExecutionError carries the kernel's exception
        detail = f"{err.ename}: {err.evalue}"
    else:
        detail = (str(err).strip().splitlines() or [""])[0]
    return f"{path.name}, cell {index} ({first_line[:60]!r}): {type(err).__name__}: {detail}"


def execute_notebook(path: Path, out_dir: Path, cell_timeout: float | None = None) -> NotebookRun:
    """Run one notebook top to bottom in its own folder; save it and its HTML to `out_dir`, even if a cell fails."""
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter
    from tqdm.auto import tqdm

    nb = nbformat.read(path, as_version=4)
    os.environ["TCIC_TEXT_PROGRESS"] = "1"  # text bars: their last state is what the exported page keeps
    # figures inline whatever the caller's backend (`MPLBACKEND=Agg` would leave every plt.show() empty)
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    client = NotebookClient(nb, timeout=cell_timeout, kernel_name="python3", coalesce_streams=True,
                            resources={"metadata": {"path": str(path.parent)}})
    start, error = time.perf_counter(), ""
    code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    try:
        with client.setup_kernel():
            for index in tqdm(code_cells, desc=path.stem, unit="cell", leave=False):
                try:
                    client.execute_cell(nb.cells[index], index)
                except Exception as err:  # noqa: BLE001  a cell error, a timeout, a dead kernel: all reported alike
                    error = _cell_error(path, index, nb.cells[index].source, err)
                    break
    except Exception as err:  # noqa: BLE001  the kernel did not start or died while shutting down
        error = error or f"{path.name}: kernel failed: {type(err).__name__}: {err}"
    seconds = time.perf_counter() - start
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = out_dir / path.name
    nbformat.write(nb, executed)
    body, _ = HTMLExporter(mathjax_url=mathjax_url(out_dir)).from_notebook_node(nb)
    rendered = executed.with_suffix(".html")
    rendered.write_text(body, encoding="utf-8")
    return NotebookRun(path, executed, rendered, seconds, "failed" if error else "ran", error)


def _previous(path: Path, out_dir: Path, key: str) -> NotebookRun | None:
    """The earlier run of `path` into `out_dir` if it succeeded from the same inputs."""
    stamp = _stamp(out_dir, path)
    try:
        saved = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return None
    executed = out_dir / path.name
    if saved.get("fingerprint") != key or saved.get("status") != "ran" or not executed.is_file():
        return None
    return NotebookRun(path, executed, executed.with_suffix(".html"), float(saved["seconds"]), "skipped")


def _save_stamp(run: NotebookRun, out_dir: Path, key: str) -> None:
    record = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(run).items()}
    _stamp(out_dir, run.source).write_text(json.dumps({**record, "fingerprint": key}, indent=1) + "\n")


def notebook_outline(path: Path) -> tuple[str, list[str]]:
    """A notebook's title (its first heading) and its learning goals (the list after "Learning goals")."""
    import nbformat

    markdown = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    title = next((line.lstrip("# ").strip() for line in markdown.splitlines() if line.startswith("# ")), path.stem)
    goals, inside = [], False
    for line in markdown.splitlines():
        if "Learning goals" in line:
            inside = True
        elif inside and line[:2].strip().rstrip(".").isdigit():
            goals.append(line.split(".", 1)[1].strip())
        elif inside and goals and line.startswith("   "):
            goals[-1] += " " + line.strip()
        elif inside and goals:
            break
    return title, goals


MATHJAX_CDN = "https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.7/MathJax.js"
MATHJAX_CONFIG = "?config=TeX-AMS-MML_HTMLorMML-full,Safe"


def mathjax_url(out_dir: Path) -> str:
    """Where the exported pages load MathJax from: a copy beside them, so $...$ is typeset offline.

    The copy is jupyter-server-mathjax's MathJax 2.7 (a dev dependency); without it the pages fall
    back to the CDN and say nothing offline, as nbconvert's default does.
    """
    spec = importlib.util.find_spec("jupyter_server_mathjax")  # its files only: nothing of it is imported
    if spec is None or not spec.submodule_search_locations:
        log.warning("jupyter-server-mathjax is not installed: the exported pages load MathJax from %s", MATHJAX_CDN)
        return MATHJAX_CDN + MATHJAX_CONFIG
    local = Path(out_dir) / "mathjax"
    if not (local / "MathJax.js").is_file():
        shutil.copytree(Path(spec.submodule_search_locations[0]) / "static", local, dirs_exist_ok=True)
    return "mathjax/MathJax.js" + MATHJAX_CONFIG


def mathjax_head(out_dir: Path) -> str:
    """The <script> tags that typeset $...$ on the index page as nbconvert's pages do."""
    config = "MathJax.Hub.Config({tex2jax:{inlineMath:[['$','$'],['\\\\(','\\\\)']],processEscapes:true}});"
    return (f"<script type='text/x-mathjax-config'>{config}</script>"
            f"<script src='{html.escape(mathjax_url(out_dir))}'></script>")


def _inline_markdown(text: str) -> str:
    """One line of markdown (bold, code, links; raw HTML escaped) as HTML, without the paragraph around it."""
    import mistune

    rendered = mistune.create_markdown(escape=True)(text).strip()
    return rendered.removeprefix("<p>").removesuffix("</p>")


def write_index(runs: list[NotebookRun], out_dir: Path, profile_name: str) -> Path:
    """index.html: the course map, each notebook's goals, its status, wall time and, for a failure, the cell."""
    def row(r: NotebookRun) -> str:
        title, goals = notebook_outline(r.source)
        status = {"ran": "ran", "skipped": "up to date (not rerun)"}.get(r.status, "<b>failed</b>")
        error = f"<br><code>{html.escape(r.error)}</code>" if r.error else ""
        items = "".join(f"<li>{_inline_markdown(goal)}</li>" for goal in goals)
        return (f'<tr><td><a href="{html.escape(r.html.name)}">{html.escape(title)}</a> '
                f'(<a href="{html.escape(r.executed.name)}">ipynb</a>)<ol>{items}</ol></td><td>{status}{error}</td>'
                f'<td style="text-align:right">{r.seconds:.0f} s</td></tr>')

    total = sum(r.seconds for r in runs)
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>tcic-course</title>" + mathjax_head(out_dir) +
        "<style>body{font-family:sans-serif;max-width:70em;margin:auto} td{vertical-align:top;padding:.4em}"
        " ol{margin:.2em 0;font-size:90%}</style></head>"
        f"<body><h1>tcic-course, executed with the <code>{html.escape(profile_name)}</code> profile</h1>"
        "<table><tr><th>notebook and its learning goals</th><th>status</th><th>wall time</th></tr>\n"
        + "\n".join(row(r) for r in runs)
        + f"\n<tr><td>all</td><td></td><td style='text-align:right'>{total / 60:.1f} min</td></tr></table></body></html>\n"
    )
    index = out_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def build_course(notebooks: Path, out_dir: Path, only: list[str] | None = None, force: bool = False,
                 cell_timeout: float | None = None) -> list[NotebookRun]:
    """Execute the course (or the notebooks whose names start with one of `only`); write the index.

    Notebooks exported before from the same inputs are skipped unless `force`. Returns every run;
    a failed one has `status == "failed"` and its `error` names the notebook and the cell.
    """
    from tqdm.auto import tqdm

    from ..config import profile

    paths = [p for p in course_notebooks(notebooks) if not only or p.stem.startswith(tuple(only))]
    if not paths:
        raise FileNotFoundError(f"no course notebooks (NN_topic.ipynb) in {notebooks}")
    # the kernels inherit the profile this process resolved, so every notebook uses the same one
    name = profile().name
    os.environ.setdefault("TCIC_PROFILE", name)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    for path in tqdm(paths, desc="course", unit="notebook"):
        key = fingerprint(path, name)
        run = None if force else _previous(path, out_dir, key)
        if run is None:
            run = execute_notebook(path, out_dir, cell_timeout)
            _save_stamp(run, out_dir, key)
        log.info("%s: %s, %.1f s%s", path.name, run.status, run.seconds, f" ({run.error})" if run.error else "")
        runs.append(run)
    write_index(runs, out_dir, name)
    return runs

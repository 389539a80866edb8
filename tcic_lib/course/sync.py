"""`make sync`: write each notebook source (`NN_topic.py`, jupytext percent) to its paired `.ipynb`, with no outputs.

The `.py` file is the source of truth; the `.ipynb` is regenerated from it (cell ids kept where
the cell text is unchanged, so diffs stay small) and carries no outputs or execution counts.
"""

from __future__ import annotations

import sys
from pathlib import Path


def strip_outputs(nb) -> None:
    """Clear outputs and execution counts in place (what nbstripout does to code cells)."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None


def sync_notebook(source: Path) -> Path:
    """Write `source`'s paired .ipynb (no outputs); return its path."""
    import jupytext
    import nbformat

    target = Path(source).with_suffix(".ipynb")
    nb = jupytext.read(source, fmt="py:percent")
    if target.is_file():  # keep the ids of unchanged cells
        old_ids = {(c.cell_type, c.source): c.get("id") for c in nbformat.read(target, as_version=4).cells}
        for cell in nb.cells:
            if (cell.cell_type, cell.source) in old_ids and old_ids[cell.cell_type, cell.source]:
                cell["id"] = old_ids[cell.cell_type, cell.source]
    strip_outputs(nb)
    jupytext.write(nb, target, fmt="ipynb")
    return target


def sync_folder(folder: Path) -> list[Path]:
    """Sync every `NN_topic.py` in `folder`."""
    return [sync_notebook(source) for source in sorted(Path(folder).glob("[0-9][0-9]_*.py"))]


if __name__ == "__main__":
    for path in sync_folder(Path(sys.argv[1] if len(sys.argv) > 1 else "notebooks")):
        print(path)

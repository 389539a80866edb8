"""Course tooling, apart from the library the notebooks teach: run the course, write student versions,
keep notebook sources and their .ipynb in sync.

- `runner`: `make course` / `tcic course` (execute every notebook, resumable, an index page);
- `student`: `make student` (solution regions replaced by `raise NotImplementedError`);
- `sync`: `make sync` (jupytext pairing, outputs stripped).
"""

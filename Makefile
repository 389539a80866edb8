# Every target sets itself up: a fresh clone needs only python3 (3.10+) and pip's registries.
# The torch pair is the one that installs offline on the course machines (shared/ENVIRONMENT.md).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CONSTRAINTS := constraints.txt
STAMP := $(VENV)/.tcic-installed
OFFLINE := HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

.PHONY: setup test course bench sync student nbgrader clean help

help:
	@echo "make course  execute every notebook (profile: \$$TCIC_PROFILE or auto) into build/course/"
	@echo "make test    unit tests + nbval on every notebook (quick profile, offline)"
	@echo "make bench   speed and size ratios (TCIC vs no-text, ours vs CompressAI) into build/bench.json"
	@echo "make sync    re-pair notebooks/*.py with their .ipynb (jupytext) and strip outputs"
	@echo "make student student notebooks (solutions replaced by NotImplementedError) into build/student/"
	@echo "make nbgrader an nbgrader course (config + every assignment, exercises and checks marked) into build/nbgrader/"

setup: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) torch torchvision
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e ".[dev]"
	touch $(STAMP)

test: $(STAMP)
	# a fresh model cache per run, so no test ever loads a model trained by older code
	# one worker per core, each notebook or test module on one worker (nbval runs a notebook's cells in order),
	# one thread each (OpenMP threads spin: two workers of two threads on two cores run slower than one);
	# the workers share the cache, and the zoo lets one process at a time train a model
	cache=$$(mktemp -d) && TCIC_CACHE=$$cache TCIC_PROFILE=quick OMP_NUM_THREADS=1 $(OFFLINE) MPLBACKEND=Agg \
		$(PY) -m pytest -n auto --dist loadscope; \
	status=$$?; rm -rf $$cache; exit $$status

course: $(STAMP)
	$(OFFLINE) $(VENV)/bin/tcic -v course --notebooks notebooks --out build/course

BENCH_NOTEBOOKS ?= quick  # add cpu to time the course's cpu profile too (long on a cold cache)
bench: $(STAMP)
	$(OFFLINE) $(PY) benchmarks/run.py --notebooks $(BENCH_NOTEBOOKS)

student: $(STAMP)
	$(PY) -m tcic_lib.course.student notebooks build/student

nbgrader: $(STAMP)
	$(PY) -m tcic_lib.course.nbgrader notebooks build/nbgrader

sync: $(STAMP)
	$(PY) -m tcic_lib.course.sync notebooks

clean:
	rm -rf build

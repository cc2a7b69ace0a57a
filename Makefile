# Two commands on a fresh clone, offline apart from the package registry:
#   make demo   set up .venv and run the main job on the embedded default (SQLite + FAISS)
#   make test   set up .venv with the dev extras and run the whole suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DATA ?= demo-data
DEMO_WORKSPACE ?= demo-workspace
FACESIFT := $(BIN)/facesift -w $(DEMO_WORKSPACE)

.PHONY: demo test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.demo-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[demo]'
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.demo-installed

demo: $(VENV)/.demo-installed
	rm -rf $(DEMO_WORKSPACE)
	$(BIN)/python -m facesift.samples $(DEMO_DATA)
	$(FACESIFT) enroll $(DEMO_DATA)/gallery --meta $(DEMO_DATA)/people.csv
	# The evidence holds one fake photo on purpose: it is reported, and the scan exits with 3.
	$(FACESIFT) scan $(DEMO_DATA)/evidence $(DEMO_DATA)/footage --case demo || [ $$? -eq 3 ]
	$(FACESIFT) identify --case demo
	$(FACESIFT) search $(DEMO_DATA)/evidence/scene.jpg --annotate $(DEMO_DATA)/scene_annotated.jpg

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(DEMO_DATA) $(DEMO_WORKSPACE) .pytest_cache

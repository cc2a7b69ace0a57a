# Two commands on a fresh clone, offline apart from the package registry:
#   make demo   set up .venv and run the main job on the embedded default (SQLite + FAISS)
#   make test   set up .venv with the dev extras and run the whole suite
# and, with ../shared/datasets beside the project (or FACESIFT_DATASETS):
#   make bench  run the benchmarks one after another, each writing benchmarks/results/NAME.json
#               (BENCH="lfw_verification decisions" picks some; GPU ones skip without a GPU)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
BENCH ?=
DEMO_DATA ?= demo-data
DEMO_WORKSPACE ?= demo-workspace
FACESIFT := $(BIN)/facesift -w $(DEMO_WORKSPACE)

.PHONY: demo test lint bench clean test-tools

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# MTCNN, the fast CPU detector, reads its weights from the facenet-pytorch wheel; facesift runs
# them on ONNX Runtime, so the package is installed without its PyTorch requirement.
MTCNN_WEIGHTS := 'facenet-pytorch>=2.5,<3'

$(VENV)/.demo-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[demo]'
	$(BIN)/python -m pip install --quiet --no-deps $(MTCNN_WEIGHTS)
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps $(MTCNN_WEIGHTS)
	touch $@ $(VENV)/.demo-installed

demo: $(VENV)/.demo-installed
	rm -rf $(DEMO_WORKSPACE) $(DEMO_DATA)/scene_annotated.jpg
	$(BIN)/python -m facesift.samples $(DEMO_DATA)
	$(FACESIFT) enroll $(DEMO_DATA)/gallery --meta $(DEMO_DATA)/people.csv
	# The evidence holds one fake photo on purpose: it is reported, and the scan exits with 3.
	$(FACESIFT) scan $(DEMO_DATA)/evidence $(DEMO_DATA)/footage --case demo || [ $$? -eq 3 ]
	$(FACESIFT) identify --case demo
	$(FACESIFT) search $(DEMO_DATA)/evidence/scene.jpg --annotate $(DEMO_DATA)/scene_annotated.jpg
	# Faces that match nobody, grouped: the stranger of the scene is found as one person.
	$(FACESIFT) cluster --case demo
	$(FACESIFT) cooccur "Grace Hopper" --case demo
	# Every search and change above is in the hash-chained audit log; verify it.
	$(FACESIFT) audit verify
	# The web app on this workspace, with a demo account whose password is made now.
	@password=$$($(BIN)/python -c "import secrets; print(secrets.token_urlsafe(12))"); \
	  echo "$$password" | $(FACESIFT) users add demo --role admin --password-stdin >/dev/null && \
	  echo "Web app: $(FACESIFT) serve   then open http://127.0.0.1:8000 and sign in as" \
	       "demo with the password $$password"

# face_recognition, the pipeline the benchmarks compare with, without its `dlib` requirement:
# dlib-bin (a facesift dependency) provides dlib. scikit-learn: DBSCAN and HDBSCAN, compared
# with in benchmarks/clustering.py.
$(VENV)/.bench-installed: $(VENV)/.demo-installed
	$(BIN)/python -m pip install --quiet --no-deps 'face_recognition==1.3.0'
	$(BIN)/python -m pip install --quiet 'scikit-learn>=1.3,<2'
	touch $@

bench: $(VENV)/.bench-installed
	$(BIN)/python benchmarks/run.py $(BENCH)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

# Debian's Chromium and ChromeDriver for the browser tests (tests/test_web.py), poppler-utils to
# read reports back (tests/test_report.py); where they cannot be installed those tests are
# skipped, saying why.
TEST_PACKAGES := chromium chromium-driver poppler-utils
test-tools:
	@(command -v chromedriver && command -v pdftotext) >/dev/null \
	  || apt-get install -y -q $(TEST_PACKAGES) >/dev/null \
	  || (apt-get update -q >/dev/null && apt-get install -y -q $(TEST_PACKAGES) >/dev/null) \
	  || echo "note: could not install $(TEST_PACKAGES); browser and report tests will be skipped" >&2

test: lint test-tools
	$(BIN)/python -m pytest

clean:
	rm -rf $(DEMO_DATA) $(DEMO_WORKSPACE) .pytest_cache

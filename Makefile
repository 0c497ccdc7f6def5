# Two commands set everything up on a fresh machine:
#   make book   build the book, executing every notebook with its default parameters (CPU: minutes)
#   make test   unit tests, every notebook in smoke mode, and a smoke build of the book
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.ssv-installed
SMOKE_OUT := _build/smoke

.PHONY: setup book test results lint format clean-book clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[book,test]"
	@touch $(STAMP)

# The real book: notebooks run with their defaults; outputs are cached in _build/.jupyter_cache.
book: $(STAMP)
	SSV_SMOKE=0 $(BIN)/jupyter-book build . --path-output .
	@echo "Open _build/html/index.html"

# The smoke build of the book (tests/test_book.py) executes every notebook in smoke mode, once,
# and fails on any error; tests/test_real_chapters.py runs them again on real clips where there
# are some. Smoke runs write under $(SMOKE_OUT) only, so smoke outputs never reach the real book.
test: $(STAMP)
	SSV_SMOKE=1 SSV_SMOKE_BOOK_OUT=$(SMOKE_OUT) $(BIN)/python -m pytest tests \
		-p no:cacheprovider --durations=15 $(PYTEST_ARGS)

# The 5-seed runs behind the comparison chapter, committed in sweeps/comparison/ (about 2 h 40 min
# on a 2-core CPU); runs already there are skipped: delete a run's folder to run it again.
results: $(STAMP)
	$(BIN)/ssv sweep sweeps/comparison.yml

# On a CUDA machine with the real clips (../shared/ucf101, or SSV_REAL_DATA): every paper's
# `paper` preset benchmarked, the VCOP chapter, torchrun and a resume, in about 8 minutes
# (SSV_GPU_CHECK_BUDGET seconds); one summary, also as JSON. Settings: ssvlib/gpucheck.py.
.PHONY: gpu-check
gpu-check: $(STAMP)
	$(BIN)/python -m ssvlib.gpucheck

# One linter and one formatter for the library, the tests and the notebooks.
lint: $(STAMP)
	$(BIN)/ruff check ssvlib tests notebooks
	$(BIN)/ruff format --check ssvlib tests notebooks

format: $(STAMP)
	$(BIN)/ruff check --fix ssvlib tests notebooks
	$(BIN)/ruff format ssvlib tests notebooks

clean-book:
	rm -rf _build

clean: clean-book
	rm -rf $(VENV) .pytest_cache .ruff_cache

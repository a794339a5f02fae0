# make demo: .venv + the package, then the quick-start (examples/demo.py)
# make test: .venv + test extras, then the default test suite (no slow tests)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-all lint clean docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

$(VENV)/.installed-docs: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/python examples/demo.py demo.png

test: $(VENV)/.installed-test
	$(BIN)/ruff check numpyro_dilation tests examples benchmarks docs notebooks
	$(BIN)/python -m pytest -m "not slow" -q -n 2 --dist loadfile --durations=20

test-all: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

docs: $(VENV)/.installed-docs
	$(BIN)/sphinx-build -E -W --keep-going -b html docs build/docs

lint: $(VENV)/.installed-test
	$(BIN)/ruff check numpyro_dilation tests examples benchmarks docs notebooks

clean:
	rm -rf $(VENV) demo.png .pytest_cache build docs/notebooks

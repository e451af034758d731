# Every install step lives here: a fresh clone needs only Python >= 3.11 and the package registry.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: all venv run test lint typecheck pytest bench soak dist packs clean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

venv: $(STAMP)

## The main job on the bundled sample data.
run: $(STAMP)
	@$(BIN)/ecsquery render --rules rules --out packs
	@echo
	@echo "Replaying samples/capture.ndjson (10 recorded stories: 5 attacks, 5 benign; eslogger"
	@echo "and Elastic Defend events from 4 hosts) through the rendered pack on its schedule:"
	@echo
	@$(BIN)/ecsquery replay --events samples/capture.ndjson --host alice-macbook --format table

## Regenerate the committed packs under packs/.
packs: $(STAMP)
	$(BIN)/ecsquery render --rules rules --out packs

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -q

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python -m ecsquery.bench

## The alert reader's durability soak and fuzz run, long (make test runs them short).
soak: $(STAMP)
	ECSQUERY_SOAK_SECONDS=$${ECSQUERY_SOAK_SECONDS:-120} ECSQUERY_FUZZ_EXAMPLES=$${ECSQUERY_FUZZ_EXAMPLES:-50000} \
		$(BIN)/pytest -q -s --hypothesis-show-statistics tests/test_alerts_soak.py tests/test_alerts_fuzz.py

dist: $(STAMP)
	$(BIN)/python -m ecsquery.extension.dist --out dist

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis

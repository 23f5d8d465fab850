# Every target installs what it needs first, so a fresh machine needs only `make talk` or `make test`.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup talk serve test lint
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/setup-system.sh scripts/setup-python.sh
	bash scripts/setup-system.sh
	VENV=$(VENV) bash scripts/setup-python.sh
	touch $@

talk: setup
	$(BIN)/hark talk $(ARGS)

serve: setup
	$(BIN)/hark serve $(ARGS)

test: setup
	$(BIN)/python -m pytest -q $(ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check app audio engine ui tests

# Two commands do everything: `make run` and `make test`. Both are safe to run twice.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-postgres lint fuzz bench bench-live bench-write migrations install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(STAMP) node_modules/.package-lock.json

run: install
	$(BIN)/python -m forum serve

/usr/bin/chromium:
	@echo "Installing Chromium from Debian (needed by the browser tests)..."
	if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	else sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; fi

# The suite in parallel (pytest-xdist): the tests mostly wait on servers, sockets and browsers, so
# 3 workers suit 2 cores. Whole files go to one worker (loadfile): module fixtures such as the
# Playwright browser, and tests that run in file order, stay together. Each worker has its own
# server and database. TEST_WORKERS=0 runs serially; PYTEST_ARGS comes last, so `-n 1` there wins.
TEST_WORKERS ?= 3
XDIST := -n $(TEST_WORKERS) --dist loadfile

test: install /usr/bin/chromium
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

test-postgres: install /usr/bin/chromium
	TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test $(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Schemathesis against a real server with the generated OpenAPI document (bounded: ~1 minute).
fuzz: install
	$(BIN)/python -m tests.fuzz

bench: install
	$(BIN)/python bench/page.py

bench-live: install
	$(BIN)/python bench/live.py

# The write path against Isso's (installs Isso into var/bench/isso-venv the first time).
bench-write: install
	$(BIN)/python bench/write.py

migrations: install
	$(BIN)/tortoise makemigrations

clean:
	rm -rf $(VENV) node_modules var

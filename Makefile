# Two commands do everything: `make run` and `make test`. Both are safe to run twice.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-postgres lint fuzz bench bench-page-against bench-live bench-write bench-readers bench-restart \
	bench-cluster bench-votes migrations install clean

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

# The Nu HTML Checker (npm vnu-jar, tests/test_html_validity.py) runs on Java.
/usr/bin/java:
	@echo "Installing a Java runtime from Debian (needed by the HTML checker)..."
	if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq default-jre-headless >/dev/null; \
	else sudo apt-get update -qq && sudo apt-get install -y -qq default-jre-headless >/dev/null; fi

# The suite in parallel (pytest-xdist): the tests mostly wait on servers, sockets and browsers, so
# 3 workers suit 2 cores. Whole files go to one worker (loadfile): module fixtures such as the
# Playwright browser, and tests that run in file order, stay together. Each worker has its own
# server and database. TEST_WORKERS=0 runs serially; PYTEST_ARGS comes last, so `-n 1` there wins.
TEST_WORKERS ?= 3
XDIST := -n $(TEST_WORKERS) --dist loadfile

test: install /usr/bin/chromium /usr/bin/java
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

test-postgres: install /usr/bin/chromium /usr/bin/java
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

# Issue 15's page target: this checkout's article page against the page before the issue.
bench-page-against: install
	$(BIN)/python bench/page.py --against 7ef91b4

bench-live: install
	$(BIN)/python bench/live.py

# The write path against Isso's (installs Isso into var/bench/isso-venv the first time).
bench-write: install
	$(BIN)/python bench/write.py

# Readers (issue 16); BENCH_ARGS=--quick for a small run, e.g. `make bench-readers BENCH_ARGS=--quick`.
# The most readers on one box, forum and websockets.broadcast() (run as root: the open-files limit).
bench-readers: install
	$(BIN)/python bench/readers.py $(BENCH_ARGS)

# 5,000 readers reconnect and resume after a restart.
bench-restart: install
	$(BIN)/python bench/restart.py $(BENCH_ARGS)

# 3 processes on PostgreSQL and Redis against one with the memory broker (needs both running).
bench-cluster: install
	$(BIN)/python bench/cluster.py $(BENCH_ARGS)

# 1,000 votes in 10 s on one reply, 1,000 readers: at most one score frame per second (issue 15).
bench-votes: install
	$(BIN)/python bench/votes.py $(BENCH_ARGS)

migrations: install
	$(BIN)/tortoise makemigrations

clean:
	rm -rf $(VENV) node_modules var

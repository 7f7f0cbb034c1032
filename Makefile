# Kehu — the two commands a new user needs: `make run` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export KEHU_DATABASE_URL ?= sqlite:///var/kehu.db
export KEHU_VAR_DIR ?= var
DEMO_CUSTOMERS ?= 3000
APT_STAMP := $(VENV)/.apt-ok

.PHONY: run test test-fast bench venv install clean system-deps

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $@

install: $(VENV)/.installed

## make run: install, initialise ./var (SQLite + key file), load the demo data once, serve on 127.0.0.1:8000
run: install
	$(BIN)/kehu init --admin-password 'Kehu-admin-2026'
	$(BIN)/kehu demo --customers $(DEMO_CUSTOMERS)
	@echo "Kehu 正在运行：http://127.0.0.1:8000  (Ctrl-C 退出)"
	$(BIN)/kehu serve

## system packages the tests need: PostgreSQL (second engine), Debian chromium (real browser), CJK fonts
system-deps:
	@need=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || need="$$need postgresql"; \
	[ -x /usr/bin/chromium ] || need="$$need chromium"; \
	fc-list 2>/dev/null | grep -qi 'noto.*cjk' || need="$$need fonts-noto-cjk"; \
	if [ -n "$$need" ]; then \
	  echo "installing:$$need"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO="sudo"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$need >/dev/null; \
	fi

## make test: the whole suite on SQLite and PostgreSQL, browser tests included (benchmarks excluded)
test: system-deps install
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile

## quick loop while developing: SQLite only, no browser
test-fast: install
	KEHU_TEST_ENGINES=sqlite $(BIN)/python -m pytest -q -x -m 'not e2e'

bench: install
	$(BIN)/python benchmarks/bench_foundation.py

clean:
	rm -rf $(VENV) var .pytest_cache

# The two commands of the README: `make run` (the product on the embedded default) and `make test` (every check).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
FRONTEND_SOURCES := $(shell find frontend/src frontend/index.html frontend/vite.config.ts frontend/tsconfig*.json -type f 2>/dev/null)

.PHONY: run test deps frontend clean

$(VENV)/.base: requirements/base.txt
	@$(PYTHON) -c 'import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "make: needs Python 3.11+ with venv and ensurepip (Debian/Ubuntu: apt-get install python3-venv)" >&2; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); exit 1; }
	$(PY) -m pip install --quiet --upgrade pip==26.3
	$(PY) -m pip install --quiet -r requirements/base.txt
	touch $@

$(VENV)/.dev: $(VENV)/.base requirements/dev.txt
	$(PY) -m pip install --quiet -r requirements/dev.txt
	touch $@

frontend/node_modules/.installed: frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund --loglevel=error
	touch $@

frontend/dist/index.html: frontend/node_modules/.installed $(FRONTEND_SOURCES)
	cd frontend && npm run build --silent

frontend: frontend/dist/index.html

deps: $(VENV)/.dev frontend/node_modules/.installed

run: export VAR_DIR := $(or $(VAR_DIR),$(CURDIR)/var)
run: $(VENV)/.base frontend/dist/index.html
	$(PY) manage.py migrate_all --verbosity 0
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py node_demo_panels --if-missing || echo "make: the reference node has no demo panels (see above)" >&2
	WEB_PORT=$(PORT) exec $(VENV)/bin/honcho -f Procfile start

test: deps
	$(PY) tests/run_all.py

clean:
	rm -rf $(VENV) frontend/node_modules frontend/dist

# Image Service. `make run` starts the whole service locally; `make test` runs every test.
# Both build .venv first (Python 3.12, found by scripts/find-python.sh).
.DEFAULT_GOAL := help
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAGE ?= dev
ARCH ?= x86_64
PORT ?= 8000
# make test: pytest-xdist workers for the tests, then the checks that need them all done.
WORKERS ?= 2
CALLS := .cache/aws-calls.log
# Biome lints and formats the web page's JavaScript (biome.json; scripts/install-biome.sh).
BIOME := .cache/@biomejs/biome/node_modules/.bin/biome

.PHONY: help venv run test lint format bench vendor guard package infra deploy rehearse lambda-run redrive admin clean

help:
	@echo "make run      start the local stack (moto server + API on 127.0.0.1:$(PORT))"
	@echo "make test     lint and run every test (unit, app, end-to-end)"
	@echo "make bench    processing benchmark against naive Pillow, the floor, thumbor, pyvips and sharp"
	@echo "make vendor   fetch the Lambda Pillow into vendor/ (ARCH=x86_64|arm64)"
	@echo "make package  chalice package (terraform) into out/ and inspect it"
	@echo "make deploy STAGE=prod   infra + vendor + guard + chalice deploy"
	@echo "make rehearse  make infra + chalice deploy/redeploy/delete against a fresh local AWS"
	@echo "make lambda-run  run make package's zip as Lambda runs it, against make run's code"
	@echo "make redrive STAGE=prod   send the upload events that failed every try back (STAGE=local: make run)"
	@echo "make admin STAGE=prod USER=alice EMAIL=alice@example.com   the first administrator"

$(VENV)/.installed: requirements-dev.txt pyproject.toml
	@set -e; py=$$(scripts/find-python.sh); \
	  if [ ! -x $(PY) ] || ! $(PY) -c 'import sys' 2>/dev/null; then rm -rf $(VENV); "$$py" -m venv $(VENV); fi
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

venv: $(VENV)/.installed

run: venv
	$(PY) -m devserver --port $(PORT)

test: venv
	scripts/install-browser.sh
	scripts/install-axe.sh
	scripts/install-biome.sh
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(BIOME) check .
	$(PY) scripts/vendor.py --arch x86_64
	rm -f $(CALLS) $(CALLS).complete
	$(PY) -m pytest -n $(WORKERS) --dist loadfile --aws-calls $(CALLS) -m "not policy and not alone"
	$(PY) -m pytest --aws-calls $(CALLS) -m "policy or alone"

lint: venv
	scripts/install-biome.sh
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(BIOME) check .

format: venv
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .
	scripts/install-biome.sh
	$(BIOME) check --write .

bench: venv
	$(PY) scripts/bench.py

vendor: venv
	$(PY) scripts/vendor.py --arch $(ARCH)

guard: venv
	@py=$$(scripts/find-python.sh --strict) && $(PY) scripts/guard.py --arch $(ARCH) --stage $(STAGE)

package: vendor guard
	$(PY) scripts/package.py --stage $(STAGE) --arch $(ARCH)

infra: venv
	$(PY) scripts/infra.py deploy --stage $(STAGE)

deploy: vendor guard infra
	$(VENV)/bin/chalice deploy --stage $(STAGE)
	$(PY) scripts/infra.py connect --stage $(STAGE)

redrive: venv
	$(PY) scripts/redrive.py --stage $(STAGE)

# USER must be given: make would otherwise take the login name from the environment.
admin: venv
	@if [ "$(origin USER)" != "command line" ]; then echo "make admin: give USER=<name> EMAIL=<address>" >&2; exit 2; fi
	$(PY) scripts/admin.py --stage $(STAGE) --user "$(USER)" --email "$(EMAIL)"

# The test suite runs this too (tests/deploy/test_rehearsal.py).
rehearse: vendor guard
	$(PY) scripts/rehearse.py

# The package run as Lambda runs it (tests/deploy/test_package_as_lambda.py runs it too).
lambda-run: package
	$(PY) scripts/lambda_run.py

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache

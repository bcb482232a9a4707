# MLOps Portal: `make run` starts the demo, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ADDR ?= 127.0.0.1:8000

.PHONY: run test test-postgres lint bench lock migrate seed clean help

help:
	@echo "make run        start portal + worker + beat with demo data on http://$(ADDR)/"
	@echo "make test       run the whole test suite (embedded SQLite + filesystem broker)"
	@echo "make test-postgres  the suite against local PostgreSQL and Redis"
	@echo "make lint       ruff"
	@echo "make bench      run the benchmarks (audit, inventory at 10,000 models, monitoring at 1M rows)"

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	touch $(STAMP)

migrate: $(STAMP)
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

run: seed
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py run_portal --addr $(ADDR)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

test-postgres: $(STAMP)
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/mlops_portal \
	CELERY_BROKER_URL=redis://127.0.0.1:6379/15 \
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) bench/run.py
	$(PY) bench/inventory_bench.py
	$(PY) bench/monitoring_bench.py

lock: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev]' && $(PY) -m pip uninstall --quiet -y mlops-portal
	{ echo "# Exact versions CI and 'make' install (pip install -r requirements.lock)."; \
	  echo "# Regenerate after changing pyproject.toml: make lock"; \
	  $(PY) -m pip freeze --exclude-editable; } > requirements.lock

clean:
	rm -rf $(VENV) staticfiles var/test-* .pytest_cache

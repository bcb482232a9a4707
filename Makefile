# MLOps Portal: `make run` starts the demo, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ADDR ?= 127.0.0.1:8000

.PHONY: run test test-postgres lint bench bench-memory bench-scale bench-load bench-mlflow bench-queue bench-e2e bench-labels lock migrate seed clean help

help:
	@echo "make run        start portal + worker + beat with demo data on http://$(ADDR)/"
	@echo "make test       run the whole test suite (embedded SQLite + filesystem broker)"
	@echo "make test-postgres  the suite against local PostgreSQL and Redis"
	@echo "make lint       ruff, and lint-imports (apps import only the layers below them)"
	@echo "make bench      run the benchmarks (audit, inventory at 10,000 models, monitoring and explanations at 1M rows)"
	@echo "make bench-memory  peak memory and time of the batched metrics at 1M and 10M rows (MEMORY_ARGS=--help)"
	@echo "make bench-scale inventory, dashboard and API at 100,000 models / 500,000 versions (seeded once, kept)"
	@echo "make bench-load load run: 20 users x 60 s against gunicorn + PostgreSQL (LOAD_ARGS=--help)"
	@echo "make bench-mlflow  portal vs MLflow registry at 10,000 models (installs MLflow into var/bench-mlflow-venv)"
	@echo "make bench-e2e     upload through gunicorn to done by a real worker, vs pandas.read_csv (PostgreSQL + Redis)"
	@echo "make bench-queue   nightly windows of 500 production models with 1 and 2 heavy-queue workers (PostgreSQL + Redis)"
	@echo "make bench-labels  a label file's ids checked against and joined to a 10M-row evaluation (LABELS_ARGS=--help)"

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
	$(VENV)/bin/lint-imports

bench: $(STAMP)
	$(PY) bench/run.py
	$(PY) bench/inventory_bench.py
	$(PY) bench/monitoring_bench.py
	$(PY) bench/explain_bench.py

# Generates the data sets in a temporary folder (about 0.6 GB at 10M rows) and removes them afterwards.
bench-memory: $(STAMP)
	$(PY) bench/memory_bench.py $(MEMORY_ARGS)

# Seeds 100,000 models once (3-10 min) into var/inventory-bench/ (or <db>_100000x5 on PostgreSQL) and reuses them.
bench-scale: $(STAMP)
	$(PY) bench/inventory_bench.py --models 100000 --keep

# Needs PostgreSQL (DATABASE_URL names the server; the run creates and drops its own database portal_load).
bench-load: $(STAMP)
	$(PY) bench/load_run.py $(LOAD_ARGS)

# MLflow goes into its own virtualenv (var/bench-mlflow-venv, made on first use), never into .venv.
bench-mlflow: $(STAMP)
	$(PY) bench/mlflow_compare.py $(MLFLOW_ARGS)

lock: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev]' && $(PY) -m pip uninstall --quiet -y mlops-portal
	{ echo "# Exact versions CI and 'make' install (pip install -r requirements.lock)."; \
	  echo "# Regenerate after changing pyproject.toml: make lock"; \
	  $(PY) -m pip freeze --exclude-editable; } > requirements.lock

clean:
	rm -rf $(VENV) staticfiles var/test-* .pytest_cache

# Needs PostgreSQL and Redis on localhost (a throw-away database is created and dropped).
bench-queue: $(STAMP)
	$(PY) bench/queue_bench.py $(QUEUE_ARGS)

# Late labels: a label file's ids checked against, and joined to, an evaluation of 10M rows (LABELS_ARGS to change).
bench-labels: $(STAMP)
	$(PY) bench/labels_bench.py $(LABELS_ARGS)

# Needs PostgreSQL and Redis on localhost. E2E_ARGS="--rows 1000000 10000000" for both sizes.
bench-e2e: $(STAMP)
	$(PY) bench/e2e_bench.py $(E2E_ARGS)

# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast venv clean-state ui-airflow ui-mlflow demo-backfill bench-import bench-retrain bench-replay bench-autogluon-venv e2e-celery faults
RIDERSHIP_HOME ?= $(CURDIR)/.ridership

venv: $(STAMP)

# Recreated only when the dependency pins change.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,celery,s3]'
	touch $(STAMP)

run: venv
	bash scripts/run_local.sh

test: venv
	$(BIN)/python -m pytest

# The unit layer only (tests/unit/, a few minutes): while editing; `make test` runs every layer.
test-fast: venv
	$(BIN)/python -m pytest tests/unit

ui-airflow: venv
	bash scripts/run_local.sh --ui

ui-mlflow: venv
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(RIDERSHIP_HOME)/mlflow.db --host 127.0.0.1 --port 5000

# Nightly operation replayed through the scheduler: `airflow backfill create` over FROM..TO.
FROM ?= 2019-06-01
TO ?= 2019-06-14
demo-backfill: venv
	bash scripts/run_local.sh --backfill $(FROM) $(TO)

# The production topology (CeleryExecutor, PostgreSQL, Redis, MLflow server) on 127.0.0.1;
# also run by `make test` (tests/e2e/test_celery_e2e.py).
e2e-celery: venv
	bash scripts/e2e_celery.sh

# Faults under the real scheduler (a killed training, a killed scheduler, an MLflow server restart,
# trainings started together on a fresh home) -> bench/results/faults.md.
faults: venv
	bash scripts/faults.sh

bench-retrain: venv
	$(BIN)/python bench/retrain.py

# The replay's library baselines need pandas < 3 (statsforecast, mlforecast): their own environment.
BENCH_VENV ?= .venv-bench
$(BENCH_VENV)/.installed: bench/requirements-baselines.txt
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet -r bench/requirements-baselines.txt
	touch $@

bench-replay: venv $(BENCH_VENV)/.installed
	$(BIN)/python bench/replay.py $(REPLAY_ARGS)

# AutoGluon-TimeSeries, the replay's optional AutoML baseline (REPLAY_ARGS="... --baselines ...,autogluon"):
# its own environment too (torch, its own pandas and LightGBM pins), about 2.5 GB.
AUTOGLUON_VENV ?= .venv-autogluon
$(AUTOGLUON_VENV)/.installed: bench/requirements-autogluon.txt
	test -x $(AUTOGLUON_VENV)/bin/python || $(PYTHON) -m venv $(AUTOGLUON_VENV)
	$(AUTOGLUON_VENV)/bin/pip install --quiet -r bench/requirements-autogluon.txt
	touch $@

bench-autogluon-venv: $(AUTOGLUON_VENV)/.installed

bench-import: venv
	$(BIN)/python bench/import_time.py

clean-state:
	rm -rf .ridership .ridership-backfill

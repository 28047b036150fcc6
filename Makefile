# embedpipe: `make demo` and `make test` are all a new user needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.setup-done
export SPARK_LOCAL_IP ?= 127.0.0.1
export PYSPARK_PYTHON := $(abspath $(BIN)/python)
export PYSPARK_DRIVER_PYTHON := $(abspath $(BIN)/python)

.PHONY: setup demo test test-fast lint typecheck bench bench-quick dist pack clean

setup: $(STAMP)

# Re-runs only when pyproject.toml changes; running it twice is harmless.
$(STAMP): pyproject.toml
	@command -v java >/dev/null 2>&1 || { \
	  echo "make setup: 'java' was not found. Spark needs a JDK 17 or 21:" >&2; \
	  echo "  Debian/Ubuntu: sudo apt-get install -y openjdk-17-jdk-headless; macOS: brew install openjdk@17" >&2; \
	  exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	$(BIN)/python -m embedpipe.doctor
	touch $(STAMP)

demo: setup
	$(BIN)/embedpipe run conf/demo.yaml

test: setup
	$(BIN)/python -m pytest -q

# The edit-test loop: everything but whole pipelines and the slow tests (a few minutes).
test-fast: setup
	$(BIN)/python -m pytest -q -m "not e2e and not slow"

lint: setup
	$(BIN)/ruff check embedpipe tests jobs bench

typecheck: setup
	$(BIN)/mypy embedpipe

bench: setup
	$(BIN)/python -m bench.run --corpus ../shared/corpus/wiki17m.txt.gz --out bench/out

bench-quick: setup
	$(BIN)/python -m bench.run --quick --out bench/out-quick

dist: setup
	rm -f dist/embedpipe-*.whl
	$(BIN)/python -m pip wheel --no-deps -w dist .

# dist/embedpipe-env.tar.gz for `spark-submit --archives ...#environment` (Spark's
# Python package management guide): a fresh venv with the wheel and its runtime
# dependencies (numba and numpy cannot travel in --py-files), packed by
# venv-pack. pyspark comes from the cluster; delta-spark's Python module rides
# along without dependencies. Like any venv-pack archive it expects the same
# Python version at the same path on the nodes (use conda-pack otherwise).
PACK_VENV := build/pack-venv
pack: dist
	rm -rf $(PACK_VENV)
	$(PYTHON) -m venv $(PACK_VENV)
	$(PACK_VENV)/bin/python -m pip install --quiet --disable-pip-version-check dist/embedpipe-*.whl
	$(PACK_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps delta-spark==4.4.0
	$(BIN)/python -m pip install --quiet --disable-pip-version-check 'venv-pack>=0.2'
	$(BIN)/venv-pack --quiet --prefix $(PACK_VENV) --output dist/embedpipe-env.tar.gz --force
	@echo "make pack: dist/embedpipe-env.tar.gz; use: spark-submit --archives dist/embedpipe-env.tar.gz#environment --conf spark.pyspark.python=./environment/bin/python ..."

clean:
	rm -rf runs bench/out bench/out-quick dist build *.egg-info

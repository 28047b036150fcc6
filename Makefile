# embedpipe: `make demo` and `make test` are all a new user needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.setup-done
export SPARK_LOCAL_IP ?= 127.0.0.1
export PYSPARK_PYTHON := $(abspath $(BIN)/python)
export PYSPARK_DRIVER_PYTHON := $(abspath $(BIN)/python)

.PHONY: setup demo test lint typecheck bench bench-quick dist clean

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

lint: setup
	$(BIN)/ruff check embedpipe tests jobs bench

typecheck: setup
	$(BIN)/mypy embedpipe

bench: setup
	$(BIN)/python -m bench.run --corpus ../shared/corpus/wiki17m.txt.gz --out bench/out

bench-quick: setup
	$(BIN)/python -m bench.run --quick --out bench/out-quick

dist: setup
	$(BIN)/python -m pip wheel --no-deps -w dist .

clean:
	rm -rf runs bench/out bench/out-quick dist build *.egg-info

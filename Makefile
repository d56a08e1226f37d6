# ocr_pipeline — the front door. `make test` is what CI runs (.ci/run).
VENV ?= .venv
PY := $(VENV)/bin/python
export OMP_THREAD_LIMIT ?= 1

.PHONY: setup test test-unit lint faults evaluate bench bench-engine bench-pipeline demo demo-once clean

setup:
	bash scripts/setup.sh

test: setup
	$(PY) -m pytest ocr_pipeline_tests

# the tests that need no service (pytest.ini: markers): 565 tests, 40-75 s alone on 2 cores
test-unit: setup
	$(PY) -m pytest -m unit ocr_pipeline_tests

# ruff (pyproject.toml [tool.ruff]) on the repository, mypy (pyproject.toml [tool.mypy]) on the engine
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy ocr_pipeline/engine

faults: setup
	OCR_FAULT_REPORT=$(CURDIR)/fault-report.md $(PY) -m pytest -m faults ocr_pipeline_tests

evaluate: setup
	$(PY) bench/evaluate.py

# both benchmarks run even when the first misses its target; the exit status says if either did
bench: setup
	@status=0; \
	$(PY) bench/engine_speed.py || status=1; \
	$(PY) bench/pipeline_speed.py --out $(CURDIR)/pipeline-bench.md || status=1; \
	exit $$status

bench-engine: setup
	$(PY) bench/engine_speed.py

bench-pipeline: setup
	$(PY) bench/pipeline_speed.py --out $(CURDIR)/pipeline-bench.md

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

demo: setup
	$(PY) scripts/demo.py

demo-once: setup
	$(PY) scripts/demo.py --once

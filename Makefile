# Two entry points; each sets itself up (.venv/) on first use.
#   make run   - the quick suite on the best device found, then an HTML report of that run
#   make test  - the test suite (GPU tests skip without a GPU)
.PHONY: run test lint setup
setup:
	@scripts/setup.sh

run: setup
	.venv/bin/gpubench run quick --report

test: setup
	.venv/bin/python -m pytest -q

lint: setup
	.venv/bin/ruff check .

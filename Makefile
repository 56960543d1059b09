# Two commands that work on a fresh machine (see README):
#   make demo  - set everything up, assemble the demo corpus, ingest it, answer questions with citations
#   make test  - set everything up and run the test suite (what .ci/run calls)
.PHONY: demo test test-fast setup bench lint clean lock upgrade-lock

demo:
	scripts/setup.sh demo
	.venv/bin/vimrag demo

test:
	scripts/setup.sh test
	scripts/run_tests.sh

test-fast:
	.venv/bin/python -m pytest -q -m "not slow"

# The dependency lock (requirements/): `make lock` re-resolves after a pyproject.toml change, keeping every
# pin that still fits; `make upgrade-lock` moves everything to the newest versions and runs the tests, so
# a bump is a reviewed commit (git diff requirements/), never a surprise on a fresh machine.
lock:
	scripts/lock.sh

upgrade-lock:
	scripts/lock.sh --upgrade
	scripts/setup.sh test
	scripts/run_tests.sh

bench:
	.venv/bin/python benchmarks/run_all.py

lint:
	.venv/bin/ruff check src tests benchmarks
	.venv/bin/mypy src

clean:
	rm -rf .vimrag .vimrag-demo demo_corpus runs

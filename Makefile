# The commands of the README: `make run` (the main job), `make test` (default tier) and `make test-all`
# (every test, as CI runs them). Each sets up first.
.PHONY: setup run test test-all protos

setup:
	scripts/setup.sh

run: setup
	scripts/main_job.sh

# test: the default tier, for every change (minutes). test-all: every test, the slow tier included (CI).
test: setup
	.venv/bin/python -m pytest -m "not slow"

test-all: setup
	.venv/bin/python -m pytest --hypothesis-profile=thorough --durations=20

protos:
	.venv/bin/python scripts/generate_protos.py

# The two commands of the README: `make run` (the main job) and `make test`. Both set up first.
.PHONY: setup run test protos

setup:
	scripts/setup.sh

run: setup
	scripts/main_job.sh

test: setup
	.venv/bin/python -m pytest

protos:
	.venv/bin/python scripts/generate_protos.py

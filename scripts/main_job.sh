#!/usr/bin/env bash
# The main job: benchmark the current commit on the embedded SQLite default with asv, record the
# instruction counts under the host-independent machine `valgrind` and everything else under this
# host's own machine name (python-svc-CPU-KERNEL: one series per host), publish the site and report
# the performance targets of this host's run.
set -euo pipefail
cd "$(dirname "$0")/.."
unset ECT_BENCH_DB_URL ECT_BENCH_LARGE_DB_URL ECT_BENCH_DATABASE  # other databases: asv.databases.conf.json (README)

machine="$(.venv/bin/python -m ect_perf machine --print-name)"  # registers it, and valgrind
echo "asv machines: $machine (wall-clock), valgrind (instruction counts)"
.venv/bin/asv run --machine valgrind --bench '^bench_instructions' --show-stderr HEAD^!
.venv/bin/asv run --machine "$machine" --bench '^(?!bench_instructions)' --show-stderr HEAD^!
.venv/bin/python -m ect_perf publish
.venv/bin/python -m ect_perf targets --machine "$machine" --commit "$(git rev-parse HEAD)" || echo "(some performance targets are not met; see above)"
cat <<MSG

The site is in html/ (it needs a web server; file:// will not load its data). Serve it on loopback:
    .venv/bin/python -m http.server --bind 127.0.0.1 --directory html 8080
and open http://127.0.0.1:8080/
MSG

#!/usr/bin/env bash
# The main job on the embedded default: seed the SQLite file, start the server, stream from it.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ect-service seed
.venv/bin/python -c '
from ect_service.client import measure_stream
from ect_service.database import resolve_url
from ect_service.harness import ServerProcess

with ServerProcess(resolve_url().render_as_string(hide_password=False)) as server:
    print(f"server on {server.target}")
    for _ in range(3):
        stats = measure_stream(server.stub(), timeout=60)
        print(f"items: {stats.items}  first item: {stats.first_item_ms:.2f} ms  "
              f"total: {stats.total_ms:.1f} ms  throughput: {stats.items_per_second:,.0f} items/s")
'

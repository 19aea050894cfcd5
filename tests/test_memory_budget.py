"""The specification's memory regression check: streaming 5,000 items must not hold more than
500 KB of (Python) memory in the client, nor keep any of it afterwards."""

import gc
import tracemalloc

from conftest import ONLINE_USERS

from ect_service.v1 import workflow_pb2

BUDGET_KB = 500


def test_streaming_5000_items_stays_within_500_kb(server):
    stub = server.stub()
    assert sum(1 for _ in stub.GetUsersOnlineStream(workflow_pb2.EmptyRequest(), timeout=60)) == ONLINE_USERS
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        count = sum(1 for _ in stub.GetUsersOnlineStream(workflow_pb2.EmptyRequest(), timeout=60))
        gc.collect()
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == ONLINE_USERS
    assert (peak - before) / 1024 < BUDGET_KB, f"streaming held {(peak - before) / 1024:.0f} KB at its peak"
    assert (after - before) / 1024 < BUDGET_KB / 10, f"streaming left {(after - before) / 1024:.0f} KB behind"

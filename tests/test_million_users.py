"""1,000,000 online users streamed: the server's memory stays flat, whatever the table's size.

One seeded SQLite file of 2,000,000 users (half online), made once for the session (about a
minute). Each read is a full StreamUsersOnline, items taken one by one: every user arrives, in id
order, and the server's resident memory at the end of a read is within a few MB of what it was
after the first 100,000 items (a server that kept rows or messages would grow by hundreds of MB).
"""

import threading

import psutil
import pytest

from benchmarks.measuring.harness import ServerProcess
from ect_service.client import BATCHED, online_users
from ect_service.seeding import seed_url

USERS = 2_000_000
ONLINE = USERS // 2
FLAT_MB = 8  # allowed growth of the server's RSS from 100,000 items in to the end

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


@pytest.fixture(scope="module")
def million_online(tmp_path_factory) -> str:
    return seed_url(f"sqlite:///{tmp_path_factory.mktemp('million') / 'ect.db'}", users=USERS, workflows=1)


class RssSampler:
    """The server's peak RSS, sampled every 50 ms on a thread while a read runs."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def test_a_million_users_stream_in_flat_memory(million_online):
    with ServerProcess(million_online) as server:
        stub = server.stub()
        server_process = psutil.Process(server.pid)
        count = 0
        last_id = ""
        in_order = True
        with RssSampler(server.pid) as sampler:
            for user in online_users(stub, BATCHED, timeout=600):
                count += 1
                in_order &= user.user_id > last_id
                last_id = user.user_id
                if count == 100_000:
                    early = server_process.memory_info().rss
                    sampler.peak = early  # from here on
        assert count == ONLINE and in_order
        growth_mb = (sampler.peak - early) / 2**20
        print(
            f"server RSS {early / 2**20:.1f} MB at 100,000 items, peak {sampler.peak / 2**20:.1f} MB "
            f"over the next 900,000 (+{growth_mb:.1f} MB)"
        )
        assert growth_mb < FLAT_MB

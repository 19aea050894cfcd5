"""CPU cost per item, server and client (the spec's threading diagnoser): counted, not timed, so it
is the quietest signal on a noisy machine."""

import psutil

from .common import ONLINE, ServerBenchmark, drain

STREAMS = 2


class CpuPerItem(ServerBenchmark):
    rounds = 1
    warmup_streams = 1

    def track_cpu_us_per_item(self, url, side):
        process = psutil.Process(self.server.pid if side == "server" else None)
        before = process.cpu_times()
        for _ in range(STREAMS):
            drain(self.stub)
        after = process.cpu_times()
        used = (after.user - before.user) + (after.system - before.system)
        return used / (STREAMS * ONLINE) * 1e6

    track_cpu_us_per_item.params = ["server", "client"]
    track_cpu_us_per_item.param_names = ["side"]
    track_cpu_us_per_item.unit = "us/item"

"""CPU time per item, server and client (the spec's threading diagnoser), from psutil's process
times. The instruction counts (bench_instructions) are the deterministic counterpart."""

import psutil

from .common import ServerBenchmark, drain, samples

STREAMS = 5


class CpuPerItem(ServerBenchmark):
    warmup_streams = 1

    def cpu_us_per_item(self, process: psutil.Process) -> float:
        before = process.cpu_times()
        items = drain(self.stub)
        after = process.cpu_times()
        used = (after.user - before.user) + (after.system - before.system)
        return used / items * 1e6

    def track_cpu_us_per_item(self, url, side):
        process = psutil.Process(self.server.pid if side == "server" else None)
        return samples(self.cpu_us_per_item(process) for _ in range(STREAMS))

    track_cpu_us_per_item.params = ["server", "client"]
    track_cpu_us_per_item.param_names = ["side"]
    track_cpu_us_per_item.unit = "us/item"

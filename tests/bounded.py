"""Commands that end with their test: a command that overruns its time, or whose test is
interrupted, is killed together with every process it started (asv's benchmark runners and the
servers they start), not only itself. Orphans would go on loading the 2 cores for the tests after.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Sequence


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def group_alive(pgid: int) -> bool:
    """Whether any process of the group is still running (zombies awaiting their parent count too)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def start_in_group(args: Sequence[str], **kwargs) -> subprocess.Popen:
    """Popen(args, text=True, ...) as the leader of a process group of its own (its pid is the group's)."""
    return subprocess.Popen(args, start_new_session=True, text=True, **kwargs)


def run_bounded(args: Sequence[str], *, timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """subprocess.run(args, capture_output=True, text=True, timeout=timeout), in a process group of
    its own that is killed whole on a timeout or an interruption."""
    with start_in_group(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(process.pid)
            stdout, stderr = process.communicate()
            raise subprocess.TimeoutExpired(args, timeout, stdout, stderr) from None
        except BaseException:
            kill_group(process.pid)
            raise
    return subprocess.CompletedProcess(args, process.returncode, stdout, stderr)

"""A counted run whose client prints no item count fails with what the client said (its standard
error and exit status), not with an error about parsing its empty output. The counting tool is
replaced by a real program that says why it failed, as valgrind does, and prints nothing else.
A counted server that does not stop is killed, and its run made again (valgrind wrote no counts)."""

import shutil

import pytest

from benchmarks.measuring import counting
from benchmarks.measuring.counting import ServerDidNotStop, _counted_once, cachegrind, counted_run

IGNORES_SIGTERM = ["sh", "-c", 'trap "" TERM; "$@"', "sh"]  # a shell in front of the server, deaf to SIGTERM
SILENT_FAILURE = "echo 'valgrind: cannot start the client: no such file' >&2; exit {}"


def tool(code: int):
    """A wrapper command line that ignores the client it is given, complains and exits with `code`."""
    return lambda out_file: ["sh", "-c", SILENT_FAILURE.format(code), "sh"]


@pytest.mark.parametrize("code", [0, 1])
def test_a_client_without_an_item_count_fails_with_its_stderr_and_exit_status(small_sqlite_url, tmp_path, code):
    with pytest.raises(RuntimeError) as error:
        _counted_once(small_sqlite_url, "unary", 1, tmp_path, "client", tool(code))
    message = str(error.value)
    assert "valgrind: cannot start the client: no such file" in message, message
    assert f"exit status {code}" in message, message


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_a_server_that_does_not_stop_is_killed_and_its_run_made_again(small_sqlite_url, tmp_path, monkeypatch, capfd):
    """Valgrind writes nothing for a killed process: the run is made again and its count kept."""
    monkeypatch.setattr(counting, "STOP_TIMEOUT", 5.0)
    monkeypatch.setattr(counting, "PAUSES", (0.1,) * len(counting.PAUSES))
    wrappers = []

    def ignores_sigterm_once(out_file):
        # First a shell that ignores SIGTERM in front of the server: only SIGKILL ends it. Its
        # server, natively, stops at its standard input's end. Then valgrind, as counted runs have it.
        wrappers.append(out_file)
        return IGNORES_SIGTERM if len(wrappers) == 1 else cachegrind(out_file)

    total, items = counted_run(small_sqlite_url, "unary", 20, tmp_path, "server", tool=ignores_sigterm_once)
    assert len(wrappers) == 2
    assert items == 20 and total > 0
    said = capfd.readouterr().err
    assert "attempt 1 of" in said and "did not exit within 5 s of its SIGTERM" in said, said


@pytest.mark.timeout(120)
def test_a_server_that_never_stops_fails_the_count(small_sqlite_url, tmp_path, monkeypatch):
    monkeypatch.setattr(counting, "STOP_TIMEOUT", 2.0)
    monkeypatch.setattr(counting, "ATTEMPTS", 2)
    monkeypatch.setattr(counting, "PAUSES", (0.1,))
    with pytest.raises(ServerDidNotStop, match="did not exit within 2 s of its SIGTERM and was killed"):
        counted_run(small_sqlite_url, "unary", 1, tmp_path, "server", tool=lambda out: IGNORES_SIGTERM)

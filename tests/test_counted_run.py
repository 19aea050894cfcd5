"""A counted run whose client prints no item count fails with what the client said (its standard
error and exit status), not with an error about parsing its empty output. The counting tool is
replaced by a real program that says why it failed, as valgrind does, and prints nothing else."""

import pytest

from benchmarks.measuring.counting import _counted_once

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

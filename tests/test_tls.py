"""TLS: a server started with --tls-cert/--tls-key serves clients that trust its certificate
(`--ca`) and no plain-TCP client. The certificate is made by the test (openssl)."""

import subprocess
import sys
from pathlib import Path

import pytest
from test_cli import cli


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_tls_serves_trusting_clients_only(small_sqlite_url, certificate):
    cert, key = certificate
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ect_service",
            "serve",
            "--db",
            small_sqlite_url,
            "--port",
            "0",
            "--stop-on-stdin-eof",
            "--tls-cert",
            str(cert),
            "--tls-key",
            str(key),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        target = server.stdout.readline().rsplit(" ", 1)[-1].strip()
        found = cli("get-workflow", "test-workflow-1", "--target", target, "--ca", str(cert))
        assert found.returncode == 0 and '"test-workflow-1"' in found.stdout, found.stderr
        stream = cli("stream", "--target", target, "--ca", str(cert))
        assert stream.returncode == 0 and "items: 10 " in stream.stdout, stream.stderr

        plain = cli("get-workflow", "test-workflow-1", "--target", target, "--timeout", "5")
        assert plain.returncode == 1 and "UNAVAILABLE" in plain.stderr, plain.stderr
    finally:
        server.stdin.close()
        assert server.wait(30) == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["serve", "--tls-cert", "cert.pem"], "--tls-cert and --tls-key go together"),
        (["serve", "--tls-cert", "/nope/cert.pem", "--tls-key", "/nope/key.pem"], "No such file or directory"),
        (["get-workflow", "x", "--ca", "/nope/ca.pem"], "--ca /nope/ca.pem: No such file or directory"),
    ],
)
def test_tls_options_that_cannot_work_give_one_line(args, message, tmp_path):
    result = cli(*args, env={"ECT_DATA_DIR": str(tmp_path), "PATH": ""})
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and message in result.stderr, result.stderr

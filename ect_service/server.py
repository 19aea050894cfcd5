"""Start the gRPC server, report its address, serve until SIGTERM/SIGINT, then stop gracefully."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection
from sqlalchemy.engine import URL

from ect_service.database import create_db_engine, describe
from ect_service.db_threads import DatabaseThreads
from ect_service.health_watch import DatabaseHealth
from ect_service.servicer import WorkflowServicer
from ect_service.stream_limits import StreamLimits
from ect_service.v1 import workflow_pb2, workflow_pb2_grpc

log = logging.getLogger(__name__)
SERVICE_NAME = workflow_pb2.DESCRIPTOR.services_by_name["WorkflowService"].full_name
# The line a supervisor parses to learn the bound address (needed with --port 0).
READY_LINE_PREFIX = "ect-service serving on "


# After the grace period, database calls get this long to finish; a driver call that hangs longer
# is left behind and the process exits regardless (exit code UNCLEAN_EXIT).
DATABASE_CLOSE_TIMEOUT = 3.0
UNCLEAN_EXIT = 3
UNREQUESTED_CALL_SECONDS = 120
MAX_REQUEST_BYTES = 64 * 1024  # larger requests: RESOURCE_EXHAUSTED


@dataclass(frozen=True)
class ServeOptions:
    db_url: URL
    host: str = "127.0.0.1"
    port: int = 50051
    pool_size: int = 20
    grace: float = 5.0
    stop_on_stdin_eof: bool = False
    max_streams: int = 2_000
    stream_idle_timeout: float = 60.0
    call_timeout: float = 30.0  # a database call's limit: a unary call's read, a stream's page
    tls: tuple[bytes, bytes] | None = None  # (private key, certificate chain), PEM
    reuse_port: bool = False  # share the port with the other workers of `serve --workers` (workers.py)


def address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def print_ready_line(bound: str) -> None:
    print(f"{READY_LINE_PREFIX}{bound}", flush=True)


async def serve(options: ServeOptions, announce: Callable[[str], None] = print_ready_line) -> int:
    """Serve until told to stop; `announce` gets the bound address once the server is up."""
    engine = create_db_engine(options.db_url, options.pool_size)
    db = DatabaseThreads(engine, options.pool_size, options.call_timeout)
    streams = StreamLimits(options.max_streams, options.stream_idle_timeout)
    health = health_aio.HealthServicer()
    # Serve even while the database is down: health says NOT_SERVING and requests get UNAVAILABLE
    # until it is back (the watch creates the tables then).
    database_health = DatabaseHealth(db, health, ("", SERVICE_NAME))

    # No SO_REUSEPORT (but for workers, which checked the port first): a second server on a taken
    # port must fail, not silently share the port.
    server = grpc.aio.server(
        options=[
            ("grpc.so_reuseport", int(options.reuse_port)),
            # A call waits in grpc's queue until the event loop takes it; grpc cancels one that waited
            # 30 s (its default), silently. A burst of a thousand new streams on a busy loop can wait
            # that long: let it wait up to a call's usual deadline instead.
            ("grpc.server_max_unrequested_time_in_server", UNREQUESTED_CALL_SECONDS),
            # Requests are a few bytes (an id of at most 64 characters): refuse big ones before they
            # are read into memory, not at grpc's default of 4 MB.
            ("grpc.max_receive_message_length", MAX_REQUEST_BYTES),
        ]
    )
    servicer = WorkflowServicer(db, streams, on_unavailable=database_health.suspect)
    workflow_pb2_grpc.add_WorkflowServiceServicer_to_server(servicer, server)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
        server,
    )
    try:
        if options.tls:
            credentials = grpc.ssl_server_credentials([options.tls])
            port = server.add_secure_port(address(options.host, options.port), credentials)
        else:
            port = server.add_insecure_port(address(options.host, options.port))
    except RuntimeError as exc:
        print(f"ect-service: cannot bind {address(options.host, options.port)}: {exc}", file=sys.stderr)
        db.close(DATABASE_CLOSE_TIMEOUT)
        return 1
    await server.start()
    if not await database_health.start():
        log.warning("database %s not reachable at start: serving NOT_SERVING until it is", describe(options.db_url))
    announce(address(options.host, port))
    log.info("database: %s (pool of %d connections)", describe(options.db_url), options.pool_size)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if options.stop_on_stdin_eof:
        on_stdin_eof(lambda: loop.call_soon_threadsafe(stop.set))
    await stop.wait()

    log.info("shutting down (grace %.1fs)", options.grace)
    await database_health.stop()
    await health.enter_graceful_shutdown()
    await server.stop(options.grace)
    streams.close()
    if not await asyncio.to_thread(db.close, DATABASE_CLOSE_TIMEOUT):
        log.error(
            "a database call still runs %.0f s after the grace period; exiting without it", DATABASE_CLOSE_TIMEOUT
        )
        return UNCLEAN_EXIT
    return 0


def on_stdin_eof(callback: Callable[[], None]) -> None:
    """Call `callback` (from another thread) when standard input closes: a supervisor that dies
    never leaves this server behind."""

    def wait_for_eof() -> None:
        # os.read, not sys.stdin: a daemon thread blocked inside a buffered reader holds its lock,
        # and the interpreter aborts at exit when it cannot take that lock.
        while os.read(sys.stdin.fileno(), 4096):
            pass
        callback()

    threading.Thread(target=wait_for_eof, name="stdin-watch", daemon=True).start()


def run(options: ServeOptions, announce: Callable[[str], None] = print_ready_line) -> int:
    code = asyncio.run(serve(options, announce))
    if code == UNCLEAN_EXIT:
        # The hung call's thread would hold up the interpreter's exit for ever: leave now.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code

"""Start the gRPC server, report its address, serve until SIGTERM/SIGINT, then stop gracefully."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from ect_service.database import create_db_engine, create_schema, describe
from ect_service.db_threads import DatabaseThreads
from ect_service.servicer import WorkflowServicer
from ect_service.v1 import workflow_pb2, workflow_pb2_grpc

log = logging.getLogger(__name__)
SERVICE_NAME = workflow_pb2.DESCRIPTOR.services_by_name["WorkflowService"].full_name
# The line a supervisor parses to learn the bound address (needed with --port 0).
READY_LINE_PREFIX = "ect-service serving on "


@dataclass(frozen=True)
class ServeOptions:
    db_url: URL
    host: str = "127.0.0.1"
    port: int = 50051
    pool_size: int = 20
    grace: float = 5.0
    stop_on_stdin_eof: bool = False


def address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def serve(options: ServeOptions) -> int:
    engine = create_db_engine(options.db_url, options.pool_size)
    db = DatabaseThreads(engine, options.pool_size)
    try:
        await asyncio.to_thread(create_schema, engine)
    except DBAPIError as exc:
        # Serve anyway: requests get UNAVAILABLE until the database is reachable.
        log.warning("database %s not reachable at start: %s", describe(options.db_url), exc.orig)

    # No SO_REUSEPORT: a second server on a taken port must fail, not silently share the port.
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    workflow_pb2_grpc.add_WorkflowServiceServicer_to_server(WorkflowServicer(db), server)
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
        server,
    )
    try:
        port = server.add_insecure_port(address(options.host, options.port))
    except RuntimeError as exc:
        print(f"ect-service: cannot bind {address(options.host, options.port)}: {exc}", file=sys.stderr)
        db.close()
        return 1
    await server.start()
    for name in ("", SERVICE_NAME):
        await health.set(name, health_pb2.HealthCheckResponse.SERVING)
    print(f"{READY_LINE_PREFIX}{address(options.host, port)}", flush=True)
    log.info("database: %s (pool of %d connections)", describe(options.db_url), options.pool_size)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if options.stop_on_stdin_eof:
        _watch_stdin(loop, stop)
    await stop.wait()

    log.info("shutting down (grace %.1fs)", options.grace)
    await health.enter_graceful_shutdown()
    await server.stop(options.grace)
    await asyncio.to_thread(db.close)
    return 0


def _watch_stdin(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Stop when standard input closes: a supervisor that dies never leaves this server behind."""

    def wait_for_eof() -> None:
        # os.read, not sys.stdin: a daemon thread blocked inside a buffered reader holds its lock,
        # and the interpreter aborts at exit when it cannot take that lock.
        while os.read(sys.stdin.fileno(), 4096):
            pass
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=wait_for_eof, name="stdin-watch", daemon=True).start()


def run(options: ServeOptions) -> int:
    return asyncio.run(serve(options))

"""The ect-service command line: serve, seed, stream, get-workflow."""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys

import grpc
from google.protobuf.json_format import MessageToDict

from ect_service import __version__, client
from ect_service.argparsing import OneLineParser, count, positive_integer
from ect_service.database import DatabaseConfigError, create_db_engine, describe, resolve_url


class UsageError(ValueError):
    """A command line that parses but cannot be used (a missing or unreadable file, say)."""


def read_file(option: str, path: str | None) -> bytes | None:
    if path is None:
        return None
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as exc:
        raise UsageError(f"{option} {path}: {exc.strerror}") from None


def tls_pair(args: argparse.Namespace) -> tuple[bytes, bytes] | None:
    if (args.tls_cert is None) != (args.tls_key is None):
        raise UsageError("--tls-cert and --tls-key go together")
    if args.tls_cert is None:
        return None
    return read_file("--tls-key", args.tls_key), read_file("--tls-cert", args.tls_cert)


def seconds(text: str) -> float:
    value = float(text)
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, 0 or more, got {text}")
    return value


def positive_seconds(text: str) -> float:
    value = seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value


def port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65_535:
        raise argparse.ArgumentTypeError(f"must be 0-65535, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="ect-service", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    db_help = "SQLAlchemy database URL (default: $ECT_DB_URL, else a SQLite file in $ECT_DATA_DIR)"
    serve = commands.add_parser("serve", help="run the gRPC server")
    serve.add_argument("--db", help=db_help)
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    serve.add_argument("--port", type=port, default=50051, help="port; 0 picks a free one (default: %(default)s)")
    serve.add_argument(
        "--pool-size",
        type=positive_integer,
        default=20,
        help="database connections, and so queries running at once, per worker (default: %(default)s)",
    )
    serve.add_argument(
        "--workers",
        type=positive_integer,
        default=1,
        help="server processes sharing the port, one core each; new connections are "
        "spread among them (default: %(default)s)",
    )
    serve.add_argument(
        "--grace",
        type=seconds,
        default=5.0,
        help="seconds in-flight calls get to finish on shutdown (default: %(default)s)",
    )
    serve.add_argument(
        "--max-streams",
        type=positive_integer,
        default=2_000,
        help="streams open at once; more are refused with RESOURCE_EXHAUSTED (default: %(default)s)",
    )
    serve.add_argument(
        "--stream-idle-timeout",
        type=positive_seconds,
        default=60.0,
        help="cancel a stream whose client has read nothing for this long (default: %(default)s s)",
    )
    serve.add_argument(
        "--call-timeout",
        type=positive_seconds,
        default=30.0,
        help="the longest a database call may take (a unary call's read, a stream's page), "
        "waiting for a connection included; past it DEADLINE_EXCEEDED (default: %(default)s s)",
    )
    serve.add_argument("--tls-cert", metavar="FILE", help="serve TLS with this PEM certificate chain (needs --tls-key)")
    serve.add_argument("--tls-key", metavar="FILE", help="the PEM private key of --tls-cert")
    serve.add_argument(
        "--stop-on-stdin-eof",
        action="store_true",
        help="also stop when standard input closes (for supervisors and test harnesses)",
    )
    serve.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])

    seed = commands.add_parser("seed", help="create the tables and seed users and workflows")
    seed.add_argument("--db", help=db_help)
    seed.add_argument("--users", type=count, default=10_000, help="users; half are online (default: %(default)s)")
    seed.add_argument("--workflows", type=count, default=100, help="workflows (default: %(default)s)")

    target_help = "server address (default: %(default)s)"
    ca_help = "connect with TLS, trusting this PEM certificate authority (default: plain TCP)"
    stream = commands.add_parser("stream", help="read every online user and report the timing")
    stream.add_argument("--target", default="127.0.0.1:50051", help=target_help)
    stream.add_argument("--ca", metavar="FILE", help=ca_help)
    stream.add_argument(
        "--rpc",
        choices=client.RPCS,
        default=client.BATCHED,
        help="many items per message (the default) or one per message",
    )
    stream.add_argument(
        "--timeout", type=positive_seconds, default=60.0, help="deadline in seconds (default: %(default)s)"
    )
    stream.add_argument("--json", action="store_true", help="print one JSON object")

    get = commands.add_parser("get-workflow", help="fetch one workflow by id")
    get.add_argument("id")
    get.add_argument("--target", default="127.0.0.1:50051", help=target_help)
    get.add_argument("--ca", metavar="FILE", help=ca_help)
    get.add_argument(
        "--timeout", type=positive_seconds, default=10.0, help="deadline in seconds (default: %(default)s)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (DatabaseConfigError, UsageError) as exc:
        parser.exit(2, f"ect-service {args.command}: error: {exc}\n")
    except grpc.RpcError as exc:
        print(f"ect-service {args.command}: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _serve(args: argparse.Namespace) -> int:
    from ect_service.server import ServeOptions, run

    worker = " [%(process)d]" if args.workers > 1 else ""
    logging.basicConfig(level=args.log_level, format=f"%(asctime)s %(levelname)s{worker} %(name)s: %(message)s")
    url = resolve_url(args.db)
    tls = tls_pair(args)
    create_db_engine(url).dispose()  # driver and URL problems surface now, as a one-line error
    options = ServeOptions(
        url,
        host=args.host,
        port=args.port,
        pool_size=args.pool_size,
        grace=args.grace,
        stop_on_stdin_eof=args.stop_on_stdin_eof,
        max_streams=args.max_streams,
        stream_idle_timeout=args.stream_idle_timeout,
        call_timeout=args.call_timeout,
        tls=tls,
    )
    if args.workers > 1:
        from ect_service.workers import run_workers

        return run_workers(options, args.workers)
    return run(options)


def _seed(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import DBAPIError

    from ect_service.seeding import seed

    url = resolve_url(args.db)
    engine = create_db_engine(url)
    try:
        report = seed(engine, args.users, args.workflows)
    except DBAPIError as exc:
        print(f"ect-service seed: database error on {describe(url)}: {exc.orig}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(
        f"seeded {describe(url)}: {report.users} users ({report.inserted_users} new), "
        f"{report.workflows} workflows ({report.inserted_workflows} new)"
    )
    return 0


def _stream(args: argparse.Namespace) -> int:
    stub = client.connect(args.target, read_file("--ca", args.ca))
    stats = client.measure_stream(stub, args.rpc, timeout=args.timeout)
    if args.json:
        print(json.dumps(stats.as_dict()))
    else:
        first = "n/a" if stats.first_item_ms is None else f"{stats.first_item_ms:.2f} ms"
        print(
            f"{stats.rpc}: items: {stats.items}  first item: {first}  total: {stats.total_ms:.1f} ms  "
            f"throughput: {stats.items_per_second:,.0f} items/s"
        )
    return 0


def _get_workflow(args: argparse.Namespace) -> int:
    from ect_service.v1 import workflow_pb2

    stub = client.connect(args.target, read_file("--ca", args.ca))
    response = stub.GetWorkflow(workflow_pb2.GetWorkflowRequest(id=args.id), timeout=args.timeout)
    print(json.dumps(MessageToDict(response, preserving_proto_field_name=True)))
    return 0


COMMANDS = {"serve": _serve, "seed": _seed, "stream": _stream, "get-workflow": _get_workflow}

"""The ect-service command line: serve, seed, stream, get-workflow."""

from __future__ import annotations

import argparse
import json
import logging
import sys

import grpc
from google.protobuf.json_format import MessageToDict

from ect_service import __version__, client
from ect_service.database import DatabaseConfigError, create_db_engine, describe, resolve_url


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit code 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def positive_integer(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65_535:
        raise argparse.ArgumentTypeError(f"must be 0-65535, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ect-service", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    db_help = "SQLAlchemy database URL (default: $ECT_DB_URL, else a SQLite file in $ECT_DATA_DIR)"
    serve = commands.add_parser("serve", help="run the gRPC server")
    serve.add_argument("--db", help=db_help)
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    serve.add_argument("--port", type=port, default=50051, help="port; 0 picks a free one (default: %(default)s)")
    serve.add_argument("--pool-size", type=positive_integer, default=20,
                       help="database connections, and so queries running at once (default: %(default)s)")
    serve.add_argument("--grace", type=float, default=5.0,
                       help="seconds in-flight calls get to finish on shutdown (default: %(default)s)")
    serve.add_argument("--stop-on-stdin-eof", action="store_true",
                       help="also stop when standard input closes (for supervisors and test harnesses)")
    serve.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])

    seed = commands.add_parser("seed", help="create the tables and seed users and workflows")
    seed.add_argument("--db", help=db_help)
    seed.add_argument("--users", type=count, default=10_000, help="users; half are online (default: %(default)s)")
    seed.add_argument("--workflows", type=count, default=100, help="workflows (default: %(default)s)")

    target_help = "server address (default: %(default)s)"
    stream = commands.add_parser("stream", help="read every online user and report the timing")
    stream.add_argument("--target", default="127.0.0.1:50051", help=target_help)
    stream.add_argument("--rpc", choices=client.RPCS, default=client.BATCHED,
                        help="many items per message (the default) or one per message")
    stream.add_argument("--timeout", type=float, default=60.0, help="deadline in seconds (default: %(default)s)")
    stream.add_argument("--json", action="store_true", help="print one JSON object")

    get = commands.add_parser("get-workflow", help="fetch one workflow by id")
    get.add_argument("id")
    get.add_argument("--target", default="127.0.0.1:50051", help=target_help)
    get.add_argument("--timeout", type=float, default=10.0, help="deadline in seconds (default: %(default)s)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except DatabaseConfigError as exc:
        parser.exit(2, f"ect-service {args.command}: error: {exc}\n")
    except grpc.RpcError as exc:
        print(f"ect-service {args.command}: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _serve(args: argparse.Namespace) -> int:
    from ect_service.server import ServeOptions, run

    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    url = resolve_url(args.db)
    create_db_engine(url).dispose()  # driver and URL problems surface now, as a one-line error
    return run(ServeOptions(url, args.host, args.port, args.pool_size, args.grace, args.stop_on_stdin_eof))


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
    stats = client.measure_stream(client.connect(args.target), args.rpc, timeout=args.timeout)
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

    response = client.connect(args.target).GetWorkflow(workflow_pb2.GetWorkflowRequest(id=args.id), timeout=args.timeout)
    print(json.dumps(MessageToDict(response, preserving_proto_field_name=True)))
    return 0


COMMANDS = {"serve": _serve, "seed": _seed, "stream": _stream, "get-workflow": _get_workflow}

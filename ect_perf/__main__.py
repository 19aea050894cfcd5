"""python -m ect_perf {targets,gate} ...: see each command's --help."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ect_perf import DEFAULT_MACHINE


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit code 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m ect_perf", description="ect-perf tools over asv results")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    machine = commands.add_parser("machine", help="register this machine with asv under the project's name")
    machine.add_argument("--name", default=DEFAULT_MACHINE, help="asv machine name (default: %(default)s)")

    publish = commands.add_parser("publish", help="asv publish, with the site's libraries served locally")
    publish.add_argument("--html-dir", type=Path, default=Path("html"), help="output folder (default: %(default)s)")
    publish.add_argument("--config", default="asv.conf.json", help="asv configuration (default: %(default)s)")

    targets = commands.add_parser("targets", help="the specification's performance targets: pass or fail")
    targets.add_argument("--machine", default=DEFAULT_MACHINE, help="asv machine name (default: %(default)s)")
    targets.add_argument("--commit", help="commit hash (prefix) to report; default: the newest measured")
    targets.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    targets.add_argument("--config", default="asv.conf.json", help="asv configuration (default: %(default)s)")

    gate = commands.add_parser("gate", help="compare two revisions with asv continuous; non-zero when worse")
    gate.add_argument("base", help="the revision to compare against, e.g. origin/main")
    gate.add_argument("head", nargs="?", default="HEAD", help="the revision under test (default: %(default)s)")
    gate.add_argument("--factor", type=_factor, default=1.10,
                      help="how much worse counts as a regression (default: %(default)s, i.e. 10%%)")
    gate.add_argument("--bench", "-b", help="only benchmarks matching this regular expression")
    gate.add_argument("--machine", default=DEFAULT_MACHINE, help="asv machine name (default: %(default)s)")
    gate.add_argument("--markdown", type=Path, help="also write the Markdown summary to this file")
    gate.add_argument("--json", type=Path, help="write the comparison as JSON to this file")
    gate.add_argument("--config", default="asv.conf.json", help="asv configuration (default: %(default)s)")
    return parser


def _factor(text: str) -> float:
    value = float(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1.0, got {value}")
    return value


def _machine(args) -> int:
    from asv.machine import Machine, MachineCollection

    # asv's detected description of this machine (os, arch, cpu, num_cpu, ram) under a fixed name;
    # `asv machine --machine NAME --yes` would store only the fields that differ from detection.
    info = {**Machine.get_defaults(), "machine": args.name}
    MachineCollection.save(args.name, info)
    ram = f"{int(info['ram']) / 2**30:.0f} GiB" if str(info["ram"]).isdigit() else info["ram"]
    print(f"asv machine {args.name}: {info['cpu']}, {info['num_cpu']} cores, {ram}, {info['os']}")
    return 0


def _publish(args) -> int:
    from ect_perf.site import SiteError, publish

    try:
        publish(args.html_dir, args.config)
    except SiteError as exc:
        print(f"ect_perf publish: {exc}", file=sys.stderr)
        return 1
    print(f"site written to {args.html_dir}/")
    return 0


def _targets(args) -> int:
    from ect_perf.asv_results import NoResults, latest_result, load_config
    from ect_perf.targets import evaluate, render

    try:
        result = latest_result(load_config(args.config), args.machine, args.commit)
    except NoResults as exc:
        print(f"ect_perf targets: {exc}", file=sys.stderr)
        return 2
    rows = evaluate(result)
    print(render(rows, result, args.format))
    return 0 if all(row.status == "pass" for row in rows) else 1


def _gate(args) -> int:
    from ect_perf.gate import BadRevision, gate

    if not Path(args.config).is_file():
        print(f"ect_perf gate: {args.config} not found: run from the repository root or pass --config",
              file=sys.stderr)
        return 2
    try:
        return gate(args.base, args.head, args.factor, args.machine, args.bench, Path(args.config),
                    args.markdown, args.json)
    except BadRevision as exc:
        print(f"ect_perf gate: {exc}", file=sys.stderr)
        return 2


COMMANDS = {"machine": _machine, "publish": _publish, "targets": _targets, "gate": _gate}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return COMMANDS[args.command](args)


if __name__ == "__main__":
    sys.exit(main())

"""python -m ect_perf COMMAND ...: machine, publish, targets, gate, calibrate, profile, explain,
explain-steps, measured; see each command's --help."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from ect_perf import INSTRUCTIONS_MACHINE, INSTRUCTIONS_MACHINE_INFO
from ect_perf.hosts import WALL_CLOCK_PREFIX, host_machine
from ect_service.argparsing import OneLineParser, count, number, positive_integer

# calibrate's scenarios, the gate's --bench of each (None: every benchmark) and the share of an
# injected scenario's runs to be caught: ect_perf.calibrate.Options' defaults, written out here so
# that building the parser does not import the gate and scipy (tests/test_calibrate.py checks they agree).
CALIBRATE_BENCH = {
    "aa": None,
    "instructions": r"\.StreamInstructions",
    "wall": r"\.StreamThroughput",
    "recommended-instructions": "RecommendedStreamInstructions",
    "connection-instructions": "RecommendedStreamInstructions",
    "recommended-wall": "RecommendedStreamThroughput",
    "first-item": "TimeToFirstItem|RecommendedTimeToFirstItem",
}
# The calls an instruction count makes (benchmarks/measuring/counting.py's CALLS), for profile and
# explain; tests/test_explain.py checks they agree.
COUNTED_CALLS = ("stream", "buffered", "unary", "recommended")
CALIBRATE_MIN_DETECTION = {
    "instructions": 1.0,
    "wall": 0.8,
    "recommended-instructions": 1.0,
    "connection-instructions": 1.0,
    "recommended-wall": 0.8,
    "first-item": 0.8,
}


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m ect_perf", description="ect-perf tools over asv results")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    machine = commands.add_parser(
        "machine",
        help="register this host with asv: its description under its own name (wall-clock), "
        f"and the fixed {INSTRUCTIONS_MACHINE!r} machine (instruction counts)",
    )
    machine.add_argument(
        "--name",
        default=host_machine(),
        help="asv machine name of this host's wall-clock results (default: %(default)s, "
        "from the CPU and the kernel build)",
    )
    machine.add_argument(
        "--print-name", action="store_true", help="print only the wall-clock machine's name, e.g. for asv run --machine"
    )

    publish = commands.add_parser("publish", help="asv publish, with the site's libraries served locally")
    publish.add_argument("--html-dir", type=Path, default=Path("html"), help="output folder (default: %(default)s)")
    publish.add_argument("--config", default="asv.conf.json", help="asv configuration (default: %(default)s)")

    targets = commands.add_parser("targets", help="the specification's performance targets: pass or fail")
    targets.add_argument(
        "--machine",
        help=f"asv machine name (default: of the {WALL_CLOCK_PREFIX}* machines, the "
        "one with the newest measured commit, or with --commit the latest run of it)",
    )
    targets.add_argument("--commit", help="commit hash (prefix) to report; default: the newest measured")
    targets.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    targets.add_argument("--config", default="asv.conf.json", help="asv configuration (default: %(default)s)")
    targets.add_argument("--targets", help="targets file (default: ect_perf/targets.json)")
    targets.add_argument(
        "--database",
        help="the results of this database server (an ECT_BENCH_DATABASE of "
        "asv.databases.conf.json, e.g. postgresql); default: SQLite's",
    )

    gate = commands.add_parser(
        "gate", help="compare two revisions with asv; confirm wall-clock suspects; non-zero when worse"
    )
    gate.add_argument("base", help="the revision to compare against, e.g. origin/main")
    gate.add_argument("head", nargs="?", default="HEAD", help="the revision under test (default: %(default)s)")
    gate.add_argument(
        "--factor",
        type=_factor,
        help="replace the factor of the 'statistics' entries of ect_perf/gate/verdicts.json, e.g. 1.20 "
        "(20%%); 'factor' entries keep theirs (default: each entry's own)",
    )
    gate.add_argument("--bench", "-b", help="only benchmarks matching this regular expression")
    gate.add_argument("--machine", default=host_machine(), help="asv machine name (default: this host's, %(default)s)")
    gate.add_argument("--markdown", type=Path, help="also write the Markdown summary to this file")
    gate.add_argument("--json", type=Path, help="write the comparison as JSON to this file")
    gate.add_argument("--config", default="asv.conf.json", help="asv configuration (default: %(default)s)")
    gate.add_argument(
        "--confirm-pairs",
        type=positive_integer,
        help="interleaved pairs of processes each suspect is measured again with (default: as "
        "many as the exact test needs for the number of suspects, at least 5)",
    )
    gate.add_argument(
        "--no-explain",
        dest="explain",
        action="store_false",
        help="do not count the calls whose instruction counts moved again to say where their instructions went",
    )

    calibrate = commands.add_parser(
        "calibrate",
        help="run the gate on A/A and injected-slowdown commits: false alarms and detection rates",
        description="In a temporary clone, commit on top of REV an unchanged service (aa) and one slowdown per "
        "injected scenario: +P% CPU instructions per item of the stream (instructions) and of the "
        "recommended read (recommended-instructions), +W% wall-clock time per item of each "
        "(wall, recommended-wall), +F% time to the first message of both (first-item); run the "
        "gate REV against each --runs times, count its exit codes and measure each injection's "
        "size. Exit 0 when the goals are met, 1 when not, 2 on errors.",
    )
    calibrate.add_argument("rev", nargs="?", default="HEAD", help="the revision to calibrate on (default: %(default)s)")
    calibrate.add_argument(
        "--runs", type=positive_integer, default=10, help="gate runs per scenario (default: %(default)s)"
    )
    calibrate.add_argument(
        "--scenarios",
        type=_scenarios,
        default=",".join(CALIBRATE_BENCH),
        help=f"comma-separated, of {', '.join(CALIBRATE_BENCH)} (default: all)",
    )
    for scenario, bench in CALIBRATE_BENCH.items():
        calibrate.add_argument(
            f"--{scenario}-bench",
            type=_regex,
            default=bench,
            help=f"the gate's --bench for {scenario} (default: "
            f"{'every benchmark' if bench is None else bench.replace('%', '%%')})",
        )
    calibrate.add_argument(
        "--instructions-percent",
        type=_positive_float,
        default=5.0,
        help="CPU instructions added per item of the stream, %% (default: %(default)s)",
    )
    calibrate.add_argument(
        "--recommended-instructions-percent",
        type=_positive_float,
        default=2.0,
        help="CPU instructions added per item of the recommended read, in its page "
        "(recommended-instructions) and in the database connection layer (connection-instructions), "
        "%% (default: %(default)s)",
    )
    calibrate.add_argument(
        "--wall-percent",
        type=_positive_float,
        default=10.0,
        help="wall-clock time added per item of the stream (wall) and of the recommended read "
        "(recommended-wall), %% (default: %(default)s)",
    )
    calibrate.add_argument(
        "--first-item-percent",
        type=_positive_float,
        default=10.0,
        help="time added to the first message of both reads, %% of the server's time to it (default: %(default)s)",
    )
    calibrate.add_argument(
        "--max-false-alarms",
        type=count,
        default=0,
        help="aa runs allowed to exit 1; e.g. 1 with --runs 10 for 'at most 1 in 10'; every "
        "other aa run must exit 0 (default: %(default)s)",
    )
    for scenario, share in CALIBRATE_MIN_DETECTION.items():
        calibrate.add_argument(
            f"--min-detection-{scenario}",
            type=_fraction,
            default=share,
            help=f"share of {scenario} runs that must be caught (default: %(default)s)",
        )
    calibrate.add_argument(
        "--machine", default=host_machine(), help="asv machine name (default: this host's, %(default)s)"
    )
    calibrate.add_argument("--markdown", type=Path, help="also write the Markdown table to this file")
    calibrate.add_argument("--json", type=Path, help="write the calibration as JSON to this file")
    calibrate.add_argument(
        "--reports", type=Path, metavar="DIR", help="keep each gate run's report here, as SCENARIO-RUN.json and .md"
    )
    calibrate.add_argument(
        "--continue",
        dest="go_on",
        action="store_true",
        help="count the runs already kept in --reports DIR (at the same REV) and make only those still "
        "missing: a calibration spread over several sessions",
    )
    calibrate.add_argument("--config", default="asv.conf.json", help="asv configuration (default: %(default)s)")

    profile = commands.add_parser(
        "profile",
        help="where a call's instructions go: per library and function, per item (callgrind)",
        description="Run the server (or the client) of this checkout under callgrind, once without calls "
        "and once with CALLS calls, as the instruction counts do, and print the difference "
        "per item received: per library and for the costliest functions.",
    )
    profile.add_argument(
        "call",
        choices=COUNTED_CALLS,
        help="the call: GetUsersOnlineStream, GetUsersOnline, GetWorkflow, or the recommended read",
    )
    profile.add_argument(
        "--calls",
        type=positive_integer,
        help="calls in the measured run (default: as many as its instruction count makes)",
    )
    profile.add_argument("--side", choices=["server", "client"], default="server", help="(default: %(default)s)")
    profile.add_argument("--top", type=positive_integer, default=25, help="functions to list (default: %(default)s)")

    explain = commands.add_parser(
        "explain",
        help="where a call's instructions went between two revisions: by library, native function and "
        "Python function, per item (callgrind)",
        description="Count BASE's and HEAD's service as the instruction counts do, under callgrind, with "
        "the asv environment's packages and this checkout's benchmarks, and natively with each Python "
        "function's bytecodes counted; print the difference per item.",
    )
    explain.add_argument("base", help="the revision to compare against, e.g. origin/main")
    explain.add_argument("head", nargs="?", default="HEAD", help="the revision explained (default: %(default)s)")
    explain.add_argument(
        "call",
        nargs="?",
        type=_calls,
        default=None,
        help="stream, buffered, unary or recommended, or several separated by commas (default: all; with "
        "--memory, all but unary)",
    )
    explain.add_argument("--side", choices=["server", "client", "both"], default="both", help="(default: %(default)s)")
    explain.add_argument(
        "--memory",
        action="store_true",
        help="where the memory went instead: the allocation sites whose size at the call's peak changed "
        "(tracemalloc, by line; natively, in seconds)",
    )
    explain.add_argument(
        "--top", type=positive_integer, default=10, help="functions or allocation sites to list (default: %(default)s)"
    )
    explain.add_argument("--markdown", type=Path, help="also write the Markdown to this file")
    explain.add_argument("--json", type=Path, help="write the explanation as JSON to this file")
    explain.add_argument("--keep", type=Path, metavar="DIR", help="keep the runs' files (callgrind's, the counts) here")
    explain.add_argument("--config", default="asv.conf.json", help="asv configuration (default: %(default)s)")

    explain_steps = commands.add_parser(
        "explain-steps",
        help="explain each step of the instruction-count history beyond the gate's threshold that has no "
        "explanation yet (docs/explanations/COMMIT.json and .md), for the site",
    )
    explain_steps.add_argument("--list", action="store_true", help="only list the steps and whether each is explained")
    explain_steps.add_argument("--limit", type=positive_integer, help="explain at most this many commits, newest first")
    explain_steps.add_argument(
        "--commits", help="comma-separated hash prefixes: explain only the steps at these commits (default: every one)"
    )
    explain_steps.add_argument("--config", default="asv.conf.json", help="asv configuration (default: %(default)s)")

    measured = commands.add_parser(
        "measured",
        help="the commits that change what is measured (service, protos, benchmarks, pinned "
        "packages), one hash a line, oldest first, for asv run HASHFILE:F",
        description="Results-only and documents-only commits run what their parent runs: the history "
        "measures only the commits listed here.",
    )
    measured.add_argument("range", nargs="?", default="HEAD", help="git rev-list range (default: %(default)s)")
    measured.add_argument(
        "--without-results", metavar="MACHINE", help="only those with no result of this asv machine in results/ yet"
    )
    measured.add_argument("--newest", action="store_true", help="only the newest of them")
    measured.add_argument("--config", default="asv.conf.json", help="asv configuration (default: %(default)s)")
    return parser


def _config_missing(command: str, config: str) -> bool:
    """Say so in one line when the asv configuration is not there (run from elsewhere)."""
    if Path(config).is_file():
        return False
    print(f"ect_perf {command}: {config} not found: run from the repository root or pass --config", file=sys.stderr)
    return True


def _factor(text: str) -> float:
    value = number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1.0, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def _fraction(text: str) -> float:
    value = number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _regex(text: str) -> str:
    try:
        re.compile(text)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"not a regular expression: {exc}") from None
    return text


def _scenarios(text: str) -> tuple[str, ...]:
    from ect_perf.calibrate import SCENARIOS

    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(names) - set(SCENARIOS))
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(SCENARIOS)}; got {text!r}")
    return tuple(name for name in SCENARIOS if name in names)


def _machine(args) -> int:
    from ect_perf.machine_file import detected, register

    info = detected(args.name)
    register({args.name: info, INSTRUCTIONS_MACHINE: dict(INSTRUCTIONS_MACHINE_INFO)})
    if args.print_name:
        print(args.name)
        return 0
    ram = f"{int(info['ram']) / 2**30:.0f} GiB" if str(info["ram"]).isdigit() else info["ram"]
    print(f"asv machine {args.name}: {info['cpu']}, {info['num_cpu']} cores, {ram}, {info['os']} (wall-clock)")
    print(f"asv machine {INSTRUCTIONS_MACHINE}: {INSTRUCTIONS_MACHINE_INFO['cpu']} (instruction counts)")
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
    from ect_perf.asv_results import NoResults, latest_result, load_config, newest_result
    from ect_perf.targets import TARGETS, TargetsError, all_pass, evaluate, load_targets, render

    try:
        config = load_config(args.config)
        targets = load_targets(Path(args.targets) if args.targets else TARGETS)
        if args.machine:
            result = latest_result(config, args.machine, args.commit, args.database)
        else:
            result = newest_result(config, commit=args.commit, database=args.database)
    except (NoResults, TargetsError) as exc:
        print(f"ect_perf targets: {exc}", file=sys.stderr)
        return 2

    def result_of(machine: str):
        """The same commit on another machine (a target's "machine"), on the same database server,
        else on SQLite: the instruction counts are SQLite's, the server's cost per item apart from
        the database's."""
        for database in dict.fromkeys([args.database, None]):
            try:
                return latest_result(config, machine, result.commit, database)
            except NoResults:
                pass
        return None

    rows = evaluate(result, targets, result_of)
    print(render(rows, result, args.format))
    return 0 if all_pass(rows) else 1


def _gate(args) -> int:
    from ect_perf.gate import BadRevision, PolicyError, gate

    if _config_missing("gate", args.config):
        return 2
    try:
        return gate(
            args.base,
            args.head,
            args.factor,
            args.machine,
            args.bench,
            Path(args.config),
            args.markdown,
            args.json,
            confirm_pairs=args.confirm_pairs,
            explain=args.explain,
        )
    except (BadRevision, PolicyError) as exc:
        print(f"ect_perf gate: {exc}", file=sys.stderr)
        return 2


def _calibrate(args) -> int:
    from ect_perf.calibrate import CalibrationError, Options, as_json, calibrate, markdown, save_reports
    from ect_perf.gate import BadRevision, PolicyError

    if _config_missing("calibrate", args.config):
        return 2
    if args.go_on and not args.reports:
        print("ect_perf calibrate: --continue needs --reports DIR, the folder of the kept runs", file=sys.stderr)
        return 2
    options = Options(
        rev=args.rev,
        runs=args.runs,
        scenarios=args.scenarios,
        bench={name: getattr(args, f"{name.replace('-', '_')}_bench") for name in CALIBRATE_BENCH},
        instructions_percent=args.instructions_percent,
        recommended_instructions_percent=args.recommended_instructions_percent,
        wall_percent=args.wall_percent,
        first_item_percent=args.first_item_percent,
        max_false_alarms=args.max_false_alarms,
        min_detection={
            name: getattr(args, f"min_detection_{name.replace('-', '_')}") for name in CALIBRATE_MIN_DETECTION
        },
        machine=args.machine,
        config_path=Path(args.config),
        kept=args.reports if args.go_on else None,
    )

    def write(calibration) -> None:
        if args.reports:
            save_reports(calibration, args.reports)
        if args.markdown:
            args.markdown.write_text(markdown(calibration) + "\n")
        if args.json:
            args.json.write_text(as_json(calibration) + "\n")

    try:
        calibration = calibrate(options, progress=write)  # the files hold every run made so far
    except (BadRevision, PolicyError, CalibrationError) as exc:
        print(f"ect_perf calibrate: {exc}", file=sys.stderr)
        return 2
    print(markdown(calibration))
    write(calibration)
    return calibration.code


def _profile(args) -> int:
    from ect_perf.profile import profile, render

    try:
        result = profile(args.call, args.calls, args.side, args.top)
    except RuntimeError as exc:  # ProfileError, or a counted run that failed
        print(f"ect_perf profile: {exc}", file=sys.stderr)
        return 2
    print(render(result))
    return 0


def _calls(text: str) -> tuple[str, ...]:
    calls = tuple(dict.fromkeys(call.strip() for call in text.split(",") if call.strip()))
    unknown = [call for call in calls if call not in COUNTED_CALLS]
    if not calls or unknown:
        raise argparse.ArgumentTypeError(f"{text!r}: choose from {', '.join(COUNTED_CALLS)}")
    return calls


def _explain(args) -> int:
    from ect_perf.explain import ExplainError, explain, render
    from ect_perf.explain import memory as by_site
    from ect_perf.gate import BadRevision

    if _config_missing("explain", args.config):
        return 2
    sides = ("server", "client") if args.side == "both" else (args.side,)
    calls = args.call or (by_site.CALLS if args.memory else COUNTED_CALLS)
    if args.memory and set(calls) - set(by_site.CALLS):
        measured = ", ".join(by_site.CALLS)
        print(f"ect_perf explain: --memory measures {measured}, not {', '.join(calls)}", file=sys.stderr)
        return 2
    how, shown = (by_site.explain_memory, by_site) if args.memory else (explain, render)
    try:
        explanation = how(Path(args.config), args.base, args.head, calls, sides, args.top, keep=args.keep)
    except (BadRevision, ExplainError, by_site.AllocationSitesError, RuntimeError) as exc:
        print(f"ect_perf explain: {exc}", file=sys.stderr)
        return 2
    text = shown.markdown(explanation)
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    if args.json:
        args.json.write_text(shown.as_json(explanation) + "\n")
    return 0


def _explain_steps(args) -> int:
    from ect_perf.explain import ExplainError, explain
    from ect_perf.explain.render import as_json, markdown
    from ect_perf.explain.steps import EXPLANATIONS, by_commit, explanation_path, load_explanation, steps
    from ect_perf.gate.run_asv import load_config_json

    if _config_missing("explain-steps", args.config):
        return 2
    config_path = Path(args.config)
    root = config_path.resolve().parent
    results_dir = root / load_config_json(config_path).get("results_dir", "results")
    folder = root / EXPLANATIONS
    grouped = by_commit(steps(root, results_dir))
    waiting = [commit for commit in reversed(list(grouped)) if load_explanation(folder, commit) is None]
    for commit, found in grouped.items():
        state = "waiting" if commit in waiting else "explained"
        for step in found:
            change = f"{step.before:,.0f} -> {step.after:,.0f} ({step.ratio:.3f})"
            print(f"{commit[:8]} {step.call} {step.side} {change} {state}")
    if args.commits:
        wanted = [prefix.strip() for prefix in args.commits.split(",") if prefix.strip()]
        unknown = [prefix for prefix in wanted if not any(commit.startswith(prefix) for commit in grouped)]
        if unknown:
            print(f"ect_perf explain-steps: no step at {', '.join(unknown)} (--list shows them)", file=sys.stderr)
            return 2
        waiting = [commit for commit in waiting if any(commit.startswith(prefix) for prefix in wanted)]
    if args.list:
        return 0
    folder.mkdir(parents=True, exist_ok=True)
    for commit in waiting[: args.limit]:
        found = grouped[commit]
        calls = tuple(dict.fromkeys(step.call for step in found))
        sides = tuple(side for side in ("server", "client") if any(step.side == side for step in found))
        try:
            explanation = explain(config_path, found[0].previous, commit, calls, sides)
        except (ExplainError, RuntimeError) as exc:
            print(f"ect_perf explain-steps: {commit[:8]}: {exc}", file=sys.stderr)
            return 2
        explanation_path(folder, commit, ".md").write_text(markdown(explanation))
        explanation_path(folder, commit, ".json").write_text(as_json(explanation) + "\n")
    return 0


def _measured(args) -> int:
    from ect_perf.gate.run_asv import load_config_json
    from ect_perf.measured import GitError, measured_commits, unmeasured

    config_path = Path(args.config)
    if _config_missing("measured", args.config):
        return 2
    root = config_path.resolve().parent
    try:
        if args.without_results:
            results_dir = root / load_config_json(config_path).get("results_dir", "results")
            commits = unmeasured(root, results_dir, args.without_results, args.range)
        else:
            commits = measured_commits(root, args.range)
    except GitError as exc:
        print(f"ect_perf measured: {exc}", file=sys.stderr)
        return 2
    for commit in commits[-1:] if args.newest else commits:
        print(commit)
    return 0


COMMANDS = {
    "machine": _machine,
    "publish": _publish,
    "targets": _targets,
    "gate": _gate,
    "calibrate": _calibrate,
    "profile": _profile,
    "explain": _explain,
    "explain-steps": _explain_steps,
    "measured": _measured,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = COMMANDS[args.command](args)
        sys.stdout.flush()
    except BrokenPipeError:  # the reader left early (`targets | head`): nothing more to say to it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # as Python's signal docs advise
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())

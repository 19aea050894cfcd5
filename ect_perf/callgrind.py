"""Reading callgrind's output files: each function's own instructions, and where its source is.

Only the file format that valgrind documents (callgrind's "Callgrind Format Specification") is
read: name compression, subposition compression, and the cost line after `calls=`, which is the
callee's inclusive cost charged to the call and so skipped: what remains is each function's own
(exclusive) instructions, counted once.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

_RECURSION = re.compile(r"'\d+$")
_NAMED = re.compile(r"^\((\d+)\)(?: (.*))?$")  # name compression: "(id) name" or "(id)"
# Name keys and the table each shares: a call's target (cob, cfn, cfi) names from the same tables.
_KINDS = {"ob": "ob", "cob": "ob", "fn": "fn", "cfn": "fn", **dict.fromkeys(("fl", "fi", "fe", "cfi", "cfl"), "fl")}
UNKNOWN_FILE = "???"  # what callgrind names a file it has no debug information for


@dataclass
class Functions:
    """A callgrind file read: {(library, function): own instructions} and {(library, function):
    (source file, its lowest line with a cost)}, the line 0 where there is no debug information."""

    costs: Counter
    sources: dict[tuple[str, str], tuple[str, int]]


def read(out_file: Path) -> Functions:
    names: dict[str, dict[str, str]] = {"ob": {}, "fn": {}, "fl": {}}
    costs: Counter = Counter()
    sources: dict[tuple[str, str], tuple[str, int]] = {}
    library = function = function_file = current_file = ""
    line = 0
    after_call = False
    with open(out_file) as lines:
        for text in lines:
            if not text or text[0] == "\n":
                continue
            first = text[0]
            if first.isdigit() or first in "+-*":
                position, *values = text.split()
                line = _position(position, line)
                if after_call:
                    after_call = False
                    continue
                key = (library, function)
                costs[key] += int(values[-1]) if values else 0
                if current_file == function_file and line > 0:
                    known = sources.get(key)
                    if known is None or known[1] == 0 or line < known[1]:
                        sources[key] = (function_file, line)
                else:
                    sources.setdefault(key, (function_file, 0))
                continue
            name, equals, value = text.rstrip("\n").partition("=")
            if name == "calls":
                after_call = True
                continue
            kind = _KINDS.get(name)
            if kind is None or not equals:  # header lines and what else is not a name
                continue
            match = _NAMED.match(value)
            if match:
                number, given = match.groups()
                if given is not None:
                    names[kind][number] = given
                value = names[kind].get(number, value)
            if name == "ob":
                library = value
            elif name == "fl":
                function_file = current_file = value
            elif name in ("fi", "fe"):
                current_file = value
            elif name == "fn":
                function = _RECURSION.sub("", value)  # eval'2 (a recursion level) is eval
                current_file = function_file
    return Functions(costs, sources)


def _position(position: str, previous: int) -> int:
    """A cost line's line number: absolute, or relative to the previous cost line's (+n, -n, *)."""
    if position == "*":
        return previous
    if position[0] in "+-":
        return previous + int(position)
    return int(position)


def self_costs(out_file: Path) -> Counter:
    """{(library, function): own instructions} of a callgrind output file with one event (Ir)."""
    return read(out_file).costs

#!/usr/bin/env python3
"""Runs README.md's "Five-minute walkthrough" against a running local stack, so the docs
cannot drift from what the hub answers.

The walkthrough is every ```sh block under the README heading "## Five-minute walkthrough"
(up to the next heading of level 1 to 3). The blocks run in order in one bash (variables carry over)
with `set -euo pipefail`. A comment line

    # => 200 {"status": "accepted"}

after a command checks the answer of the last `curl` before it: the HTTP status, and that
the JSON body contains the given fields with those values (a subset: nested objects are
compared the same way, lists element by element). `http://127.0.0.1:9000` in the blocks is
replaced by --hub, and `make -s token` reads the JWT secret of the moto server at
$MOTO_PORT, so the walkthrough can run on a stack of its own (scripts/walkthrough.sh).

    python3 scripts/walkthrough.py --hub http://127.0.0.1:9000     # against `make dev`
    python3 scripts/walkthrough.py --print                          # the generated script
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADING = "## Five-minute walkthrough"
DOC_HUB = "http://127.0.0.1:9000"
EXPECT = re.compile(r"^#\s*=>\s*(\d{3})\s*(.*)$")

# Every curl of the walkthrough leaves its status and body in files the checks read, and
# still prints the body, as the reader sees it.
PRELUDE = r"""set -euo pipefail
__WALK=$(mktemp -d)
trap 'rm -rf "$__WALK"' EXIT
curl() {
  local status
  status=$(command curl -o "$__WALK/body" -w '%{http_code}' "$@") || return
  printf '%s' "$status" >"$__WALK/status"
  cat "$__WALK/body"
  echo
}
"""


def walkthrough_blocks(readme: str) -> list[tuple[int, str]]:
    """(line number, text) of every ```sh block of the walkthrough section."""
    lines = readme.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == HEADING)
    except StopIteration:
        raise SystemExit(f"walkthrough: README.md has no {HEADING!r} heading")
    blocks: list[tuple[int, str]] = []
    i = start + 1
    while i < len(lines) and not re.match(r"#{1,3} ", lines[i]):
        if lines[i].strip() == "```sh":
            j = i + 1
            while j < len(lines) and lines[j].strip() != "```":
                j += 1
            blocks.append((i + 2, "\n".join(lines[i + 1 : j])))
            i = j
        i += 1
    if not blocks:
        raise SystemExit("walkthrough: no ```sh block under " + HEADING)
    return blocks


def render(blocks: list[tuple[int, str]], hub: str, checker: str) -> tuple[str, int]:
    """The bash script, and how many answers it checks."""
    out = [PRELUDE]
    checks = 0
    for first_line, text in blocks:
        out.append(f"\n# README.md line {first_line}")
        for offset, line in enumerate(text.splitlines()):
            match = EXPECT.match(line.strip())
            if match:
                checks += 1
                where = f"README.md:{first_line + offset}"
                out.append(
                    f'{checker} check {shlex.quote(where)} "$__WALK" {match.group(1)} {shlex.quote(match.group(2).replace(DOC_HUB, hub))}'
                )
            else:
                out.append(line.replace(DOC_HUB, hub))
    return "\n".join(out) + "\n", checks


def contains(actual, expected) -> bool:
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and contains(actual[k], v) for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(actual, list) and len(actual) >= len(expected) and all(
            contains(a, e) for a, e in zip(actual, expected)
        )
    return actual == expected


def cmd_check(args: argparse.Namespace) -> int:
    state = Path(args.state)
    status = (state / "status").read_text() if (state / "status").exists() else "(no curl ran)"
    body = (state / "body").read_text(encoding="utf-8", errors="replace") if (state / "body").exists() else ""
    problems = []
    if status != args.status:
        problems.append(f"status {status}, expected {args.status}")
    if args.fields:
        expected = json.loads(args.fields)
        try:
            actual = json.loads(body)
        except ValueError:
            actual = None
            problems.append("the body is not JSON")
        if actual is not None and not contains(actual, expected):
            problems.append(f"the body lacks {json.dumps(expected, ensure_ascii=False)}")
    if problems:
        print(f"walkthrough: FAILED at {args.where}: {'; '.join(problems)}\n  body: {body[:600]}", file=sys.stderr)
        return 1
    print(f"walkthrough: ok {args.where} ({status})", file=sys.stderr)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    blocks = walkthrough_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    checker = f"{shlex.quote(sys.executable)} {shlex.quote(str(Path(__file__).resolve()))}"
    script, checks = render(blocks, args.hub.rstrip("/"), checker)
    if args.print:
        sys.stdout.write(script)
        return 0
    started = time.monotonic()
    with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as f:
        f.write(script)
    try:
        status = subprocess.run(["bash", f.name], cwd=ROOT, env=os.environ.copy()).returncode
    finally:
        os.unlink(f.name)
    took = time.monotonic() - started
    if status == 0:
        print(f"walkthrough: {len(blocks)} blocks, {checks} answers checked, {took:.1f} s", file=sys.stderr)
    else:
        print(f"walkthrough: failed (exit {status}) after {took:.1f} s", file=sys.stderr)
    return status


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["check"]:
        p = argparse.ArgumentParser(prog="walkthrough.py check")
        p.add_argument("where")
        p.add_argument("state")
        p.add_argument("status")
        p.add_argument("fields", nargs="?", default="")
        return cmd_check(p.parse_args(argv[1:]))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hub", default=DOC_HUB, help=f"the hub's URL (default {DOC_HUB})")
    p.add_argument("--print", action="store_true", help="print the generated bash script and stop")
    return cmd_run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

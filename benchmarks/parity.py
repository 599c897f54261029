"""Behavioural parity with 0.7.0: runs ``parity_scenarios.py`` on the published package (in its scratch venv) and
on this one, in one go, and prints the differences. Exits 0 only when every observable outcome is identical.

Usage: ``uv run python benchmarks/parity.py`` (or ``make parity``); ``UPSTREAM_VENV`` as for ``upstream.py``.
"""

from __future__ import annotations

import difflib
import json
import subprocess
import sys
from pathlib import Path

from upstream import ensure_upstream_venv, venv_path

SCENARIOS = Path(__file__).resolve().parent / "parity_scenarios.py"


def run_scenarios(python: str) -> list[dict]:
    process = subprocess.run([python, str(SCENARIOS)], capture_output=True, text=True, timeout=300, cwd="/")
    if process.returncode != 0:
        raise SystemExit(f"{python} failed to run the scenarios:\n{process.stderr[-3000:]}")
    return json.loads(process.stdout)


def main() -> int:
    upstream, error = ensure_upstream_venv(venv_path())
    if upstream is None:
        print(error, file=sys.stderr)
        return 1
    expected, obtained = run_scenarios(str(upstream)), run_scenarios(sys.executable)
    if len(expected) != len(obtained):
        raise SystemExit(f"0.7.0 ran {len(expected)} scenarios, this package {len(obtained)}")
    different = 0
    for before, after in zip(expected, obtained):
        if before == after:
            print(f"  same       {before['name']}")
            continue
        different += 1
        print(f"  DIFFERENT  {before['name']}")
        lines = difflib.unified_diff(
            json.dumps(before, indent=1, sort_keys=True).splitlines(),
            json.dumps(after, indent=1, sort_keys=True).splitlines(),
            "0.7.0",
            "this package",
            lineterm="",
        )
        print("\n".join(f"    {line}" for line in lines))
    print(f"{len(expected) - different} of {len(expected)} scenarios behave identically on 0.7.0 and this package.")
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(main())

"""Compare this package's ``minos.saga`` with the published 0.7.0 on the same workloads.

    uv run python benchmarks/run.py [--duration S] [--repeats N] [--only local5,remote3,...]

Each workload of ``benchmarks/workloads.py`` runs in its own subprocess, once under the 0.7.0 venv's
python (``UPSTREAM_VENV``, default ``<repo>/.upstream-venv``; built from PyPI by ``upstream.py`` if
missing) and once under the current interpreter (this package). Prints a table and writes
``benchmarks/results.json``.

Exit status: 0 = everything ran and met its target; 1 = a side failed (error, timeout, or the
wrong ``minos.saga`` was imported); 2 = everything ran but a workload missed its target.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from upstream import ensure_upstream_venv, venv_path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORKLOADS_PY = HERE / "workloads.py"
RESULTS_JSON = HERE / "results.json"

PERSISTED = {"persisted1": 1, "persisted5": 5, "persisted20": 20, "persisted100": 100}  # workload: remote steps
WORKLOADS = ["local5", "remote3", "raw_roundtrip", "failing_local", *PERSISTED]
# ours must do at least this many times the upstream ops/s (issue 12); the other rows are informational
TARGETS = {"local5": 20.0, "remote3": 15.0, "raw_roundtrip": 12.0, "persisted100": 8.0}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def machine_info() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or "unknown"
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "python": platform.python_version(),
        "python_impl": platform.python_implementation(),
        "platform": platform.platform(),
        "loadavg": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def run_side(python: str, workload: str, args: argparse.Namespace) -> dict:
    """Runs one workload in a subprocess; always returns a dict with ``ok``."""
    cmd = [
        python,
        str(WORKLOADS_PY),
        workload,
        str(args.duration),
        "--repeats",
        str(args.repeats),
        "--memory-count",
        str(args.memory_count),
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    started = time.perf_counter()
    try:
        # cwd="/" so nothing can shadow the interpreter's own minos.saga
        proc = subprocess.run(cmd, cwd="/", env=env, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired as exc:
        return {"ok": False, "error": f"timeout after {args.timeout}s", "stderr": _tail(exc.stderr)}
    wall = time.perf_counter() - started
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {
            "ok": False,
            "error": f"no result line (exit {proc.returncode})",
            "stderr": _tail(proc.stderr),
            "stdout": _tail(proc.stdout),
        }
    try:
        result = json.loads(lines[-1])
    except json.JSONDecodeError as exc:
        return {"ok": False, "error": f"bad result line: {exc}", "stderr": _tail(proc.stderr)}
    result["wall_seconds"] = wall
    result["exit_code"] = proc.returncode
    if not result.get("ok"):
        result["stderr"] = _tail(proc.stderr)
    return result


def _tail(text, lines: int = 15) -> str:
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def check_origin(result: dict, side: str, upstream_venv: Path) -> None:
    """Guards against measuring the wrong implementation."""
    if not result.get("ok"):
        return
    origin = str(Path(result.get("saga_file") or "").resolve())
    inside_upstream = origin.startswith(str(upstream_venv.resolve()) + os.sep)
    if side == "upstream" and (not inside_upstream or result.get("saga_version") != "0.7.0"):
        result.update(ok=False, error=f"upstream side imported {result.get('saga_version')} from {origin}")
    if side == "ours" and inside_upstream:
        result.update(ok=False, error=f"'ours' imported the upstream package from {origin}")


def print_persisted_curve(rows: list[dict]) -> None:
    """Cost per step of the persisted sagas: flat means linear in the number of steps, rising means quadratic."""
    curve = [(PERSISTED[row["workload"]], row) for row in rows if row["workload"] in PERSISTED]
    if not curve:
        return
    print("\npersisted saga (SagaManager, pause on disk, JSON documents), microseconds per step:")
    for steps, row in curve:
        up = row["upstream_us_per_op"] / steps if row["upstream_us_per_op"] else None
        ours = row["ours_us_per_op"] / steps if row["ours_us_per_op"] else None
        ratio = f"{row['ratio']:.2f}x" if row["ratio"] else "-"
        print(f"  {steps:>4} steps: upstream {fmt_num(up, ' us'):>10}  ours {fmt_num(ours, ' us'):>10}  ratio {ratio}")


def fmt_num(value, unit="") -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}{unit}"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="minos.saga: this package vs published 0.7.0")
    parser.add_argument("--duration", type=float, default=3.0, help="measured seconds per workload and side")
    parser.add_argument("--repeats", type=int, default=5, help="repeats (best is reported)")
    parser.add_argument("--memory-count", type=int, default=2000, help="paused executions for the memory row")
    parser.add_argument("--only", default="", help="comma-separated subset of: " + ",".join([*WORKLOADS, "memory"]))
    parser.add_argument("--timeout", type=float, default=300.0, help="per-subprocess timeout (s)")
    args = parser.parse_args()
    args.selected = [w for w in args.only.split(",") if w] or [*WORKLOADS, "memory"]
    unknown = set(args.selected) - {*WORKLOADS, "memory"}
    if unknown:
        parser.error(f"unknown workloads: {sorted(unknown)}")
    return args


def print_method(info: dict, args: argparse.Namespace) -> None:
    """The machine and how it is measured, before any number."""
    load = " ".join(f"{x:.2f}" for x in info["loadavg"]) if info["loadavg"] else "n/a"
    print(
        f"machine: {info['cpu']} | {info['cores']} cores ({info['usable_cores']} usable) | "
        f"Python {info['python']} ({info['python_impl']}) | load {load}"
    )
    print(
        f"method: warm-up, then {args.repeats} repeats of {args.duration / args.repeats:.2f}s "
        f"of process CPU time, best repeat reported; memory: tracemalloc over {args.memory_count} paused executions"
    )


def measure(args: argparse.Namespace, pythons: dict[str, Path | str | None], venv_error: str | None) -> dict:
    """workload -> side -> the result of running it under that side's python."""
    upstream_venv = venv_path()
    raw: dict[str, dict[str, dict]] = {}
    for workload in args.selected:
        raw[workload] = {}
        for side, python in pythons.items():
            if python is None:
                raw[workload][side] = {"ok": False, "error": venv_error}
                continue
            log(f"  {workload:<14} [{side}] ...")
            result = run_side(str(python), workload, args)
            check_origin(result, side, upstream_venv)
            raw[workload][side] = result
            if not result["ok"]:
                log(f"  {workload:<14} [{side}] FAILED: {result.get('error')}")
    return raw


def compare(workload: str, up: dict, ours: dict) -> dict:
    """One row of the table: both sides' figure, their ratio, the target and whether it is met."""
    memory = workload == "memory"
    key = "bytes_per_execution" if memory else "ops_per_s"
    up_v = up.get(key) if up.get("ok") else None
    our_v = ours.get(key) if ours.get("ok") else None
    ratio = our_v / up_v if up_v and our_v else None
    wanted = None if memory else TARGETS.get(workload)  # no target for memory: lower ratio is better
    if not (up.get("ok") and ours.get("ok")):
        status = "FAIL"
    elif wanted is None:
        status = "-"
    else:
        status = "PASS" if ratio >= wanted else "FAIL"
    return {
        "workload": workload if not memory else "memory (B/paused exec)",
        "metric": key,
        "upstream": up_v,
        "ours": our_v,
        "ratio": ratio,
        "target": f">={wanted:g}x" if wanted else "info",
        "status": status,
        "upstream_us_per_op": 1e6 / up_v if up_v and not memory else None,
        "ours_us_per_op": 1e6 / our_v if our_v and not memory else None,
    }


def missed_target(row: dict) -> bool:
    """Both sides ran, the workload has a target, and ours did not reach it."""
    return row["status"] == "FAIL" and row["ratio"] is not None and row["target"] != "info"


def error_lines(raw: dict) -> list[str]:
    """One line per side that failed; the stderr of the first failure of each kind."""
    errors, seen = [], set()
    for workload, sides in raw.items():
        for side in ("upstream", "ours"):
            res = sides[side]
            if not res.get("ok"):
                first = res.get("error") not in seen
                seen.add(res.get("error"))
                detail = f"\n{res['stderr']}" if first and res.get("stderr") else (" (same as above)" * (not first))
                errors.append(f"{workload} [{side}]: {res.get('error')}{detail}")
    return errors


def print_table(rows: list[dict]) -> None:
    header = ["workload", "upstream 0.7.0", "ours", "ratio ours/up", "target", "result"]
    table = [header]
    for row in rows:
        unit = " B" if row["metric"] == "bytes_per_execution" else "/s"
        table.append(
            [
                row["workload"],
                fmt_num(row["upstream"], unit),
                fmt_num(row["ours"], unit) if row["ours"] is not None else "ERROR",
                f"{row['ratio']:.2f}x" if row["ratio"] is not None else "-",
                row["target"],
                row["status"],
            ]
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    print()
    for i, r in enumerate(table):
        print("  ".join(c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print()
    print(
        "ops/s: higher is better, ratio = ours/upstream (targets of issue 12). "
        "memory: bytes per paused execution, ratio < 1 means ours uses less."
    )


def print_repeats(raw: dict) -> None:
    """Each side's iterations and the ops/s of every repeat (the table shows the best)."""
    for workload, sides in raw.items():
        for side in ("upstream", "ours"):
            res = sides[side]
            if res.get("ok") and workload != "memory":
                per = ", ".join(f"{r['ops_per_s']:,.0f}" for r in res["repeats"])
                print(
                    f"  {workload:<14} {side:<8} {res['iterations_total']:>7} iterations in "
                    f"{res['measured_seconds']:.2f}s CPU; repeats ops/s: {per} (median {res['median_ops_per_s']:,.0f})"
                )


def write_results(info: dict, args: argparse.Namespace, pythons: dict, rows: list, raw: dict, exit_code: int) -> None:
    settings = {
        "duration": args.duration,
        "repeats": args.repeats,
        "memory_count": args.memory_count,
        "upstream_python": str(pythons["upstream"]),
        "ours_python": pythons["ours"],
        "targets": TARGETS,
    }
    document = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": info,
        "settings": settings,
        "rows": rows,
        "raw": raw,
        "exit_code": exit_code,
    }
    RESULTS_JSON.write_text(json.dumps(document, indent=1, default=str) + "\n")
    print(f"\nwrote {RESULTS_JSON.relative_to(REPO)}; exit {exit_code}")


def main() -> int:
    args = parse_args()
    info = machine_info()
    print_method(info, args)
    upstream_python, venv_error = ensure_upstream_venv(venv_path())
    pythons = {"upstream": upstream_python, "ours": sys.executable}
    raw = measure(args, pythons, venv_error)
    rows = [compare(workload, raw[workload]["upstream"], raw[workload]["ours"]) for workload in args.selected]
    errors = error_lines(raw)
    print_table(rows)
    print_persisted_curve(rows)
    print_repeats(raw)
    if errors:
        print("\nERRORS:")
        for err in errors:
            print("  " + err.replace("\n", "\n    "))
    load_end = os.getloadavg() if hasattr(os, "getloadavg") else None
    if load_end:
        print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in load_end)} (a busy machine makes numbers noisy)")
    info["loadavg_end"] = load_end
    exit_code = 1 if errors else (2 if any(missed_target(row) for row in rows) else 0)
    write_results(info, args, pythons, rows, raw, exit_code)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())

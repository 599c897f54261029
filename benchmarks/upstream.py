"""Builds the scratch venv holding the published minos-microservice-saga 0.7.0, the baseline of the benchmarks.

    uv run python benchmarks/upstream.py [DIR]

The venv (default ``<repo>/.upstream-venv``, git-ignored; ``UPSTREAM_VENV`` overrides it) is made with ``uv`` from
PyPI, on the interpreter running this script so both sides of a comparison use the same Python. 0.7.0 is only run
as a black box: the benchmarks import its public API, never read its code.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_VENV = REPO / ".upstream-venv"
# aiomisc imports pkg_resources, which setuptools 81 dropped.
PACKAGES = ["minos-microservice-saga==0.7.0", "minos-microservice-aggregate==0.7.0", "setuptools<81"]
# minos-microservice-common 0.7.0 pins uvloop<0.17, which does not build on current Pythons: the same overrides as
# this project's pyproject.toml.
OVERRIDES = ["uvloop>=0.17", "aiomisc>=14.0.3,<15.8"]


def venv_path() -> Path:
    """Where the 0.7.0 venv lives: ``UPSTREAM_VENV`` or ``<repo>/.upstream-venv``."""
    return Path(os.environ.get("UPSTREAM_VENV") or DEFAULT_VENV)


def _imports_upstream(python: Path) -> bool:
    check = [str(python), "-c", "import minos.saga, minos.aggregate; assert minos.saga.__version__ == '0.7.0'"]
    # cwd="/" so nothing on the current directory can shadow the venv's own packages
    return python.exists() and subprocess.run(check, cwd="/", capture_output=True).returncode == 0


def ensure_upstream_venv(venv: Path) -> tuple[Path | None, str | None]:
    """The venv's python, creating the venv when it is missing or broken; ``(None, reason)`` if that fails."""
    python = venv / "bin" / "python"
    if _imports_upstream(python):
        return python, None
    uv = os.environ.get("UV") or shutil.which("uv")  # ``uv run`` names itself in UV
    if uv is None:
        return None, "uv is needed to build the 0.7.0 venv (make install puts it on PATH)"
    print(f"building the 0.7.0 venv in {venv} from PyPI...", file=sys.stderr, flush=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as overrides:
        overrides.write("\n".join(OVERRIDES) + "\n")
        overrides.flush()
        for command in (
            [uv, "venv", "--quiet", "--allow-existing", "--python", sys.executable, str(venv)],
            [uv, "pip", "install", "--quiet", "--python", str(python), "--override", overrides.name, *PACKAGES],
        ):
            # VIRTUAL_ENV would point uv at this project's environment instead of the scratch venv
            env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
            completed = subprocess.run(command, cwd="/", env=env, stdout=sys.stderr, stderr=sys.stderr)
            if completed.returncode != 0:
                return None, f"{' '.join(command[:3])} failed with exit {completed.returncode}"
    if not _imports_upstream(python):
        return None, f"{venv} was built but does not import minos.saga 0.7.0"
    return python, None


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else venv_path()
    found, error = ensure_upstream_venv(target)
    print(error or f"minos.saga 0.7.0 ready: {found}")
    sys.exit(1 if error else 0)

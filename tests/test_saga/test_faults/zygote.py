"""Starts the fault tests' processes quickly: ``python -m tests.test_saga.test_faults.zygote``.

Importing minos takes a second or more on a busy machine, once per process. This process imports the orchestrator
and participant modules once, then forks each child the test asks for (one JSON line on stdin per request, one
answer per line on stdout): real, separate processes that the test signals by pid, started in milliseconds.

Requests: ``{"spawn": module, "env": {...}, "log": path}`` answers ``{"pid": pid}``; ``{"poll": pid}`` answers
``{"returncode": code}`` (minus the signal number if a signal ended it, None while it runs).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import orchestrator, participants

MODULES = {"orchestrator": orchestrator, "participants": participants}
ROOT = Path(__file__).resolve().parents[3]


def _spawn(module: str, env: dict[str, str], log: str) -> int:
    pid = os.fork()
    if pid:
        return pid
    try:  # the child: never return into the request loop
        os.setsid()
        output = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.close(0)
        os.environ.update(env)
        MODULES[module].run()
    finally:
        os._exit(1)


def _returncode(pid: int, ended: dict[int, int]) -> int | None:
    if pid not in ended:
        waited, status = os.waitpid(pid, os.WNOHANG)
        if not waited:
            return None
        ended[pid] = os.waitstatus_to_exitcode(status)
    return ended[pid]


def serve() -> None:
    ended: dict[int, int] = {}
    for line in sys.stdin:
        request: dict[str, Any] = json.loads(line)
        if "spawn" in request:
            answer: dict[str, Any] = {"pid": _spawn(request["spawn"], request["env"], request["log"])}
        else:
            answer = {"returncode": _returncode(request["poll"], ended)}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    serve()


class Zygote:
    """The test's side: starts the zygote process and asks it for children."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", __name__], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        return json.loads(self._process.stdout.readline())

    def spawn(self, module: str, env: dict[str, str], log: str) -> Child:
        return Child(self, self._ask({"spawn": module, "env": env, "log": log})["pid"])

    def returncode(self, pid: int) -> int | None:
        return self._ask({"poll": pid})["returncode"]

    def close(self) -> None:
        self._process.kill()
        self._process.wait()


class Child:
    """A process the zygote forked, with the part of ``subprocess.Popen``'s interface the tests use."""

    def __init__(self, zygote: Zygote, pid: int):
        self.zygote = zygote
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self.zygote.returncode(self.pid)
        return self.returncode

    def kill(self) -> None:
        """SIGKILL the process and wait until it is gone."""
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
            while self.poll() is None:
                time.sleep(0.001)

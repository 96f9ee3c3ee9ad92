"""A real ``mlpilot serve`` in a subprocess, for the integration tests that talk HTTP to it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from mlpilot.project import Project

MLPILOT = str(Path(sys.executable).parent / "mlpilot")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, project: Project, *extra: str) -> None:
        self.project = project
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLPILOT_")}
        env["MLFLOW_DISABLE_TELEMETRY"] = "true"
        self.proc = subprocess.Popen(
            [
                MLPILOT,
                "serve",
                "--project",
                str(project.settings.project_dir),
                "--port",
                str(self.port),
                "--set",
                "serve.poll_seconds=0.2",
                "--set",
                "serve.compact_seconds=0.5",
                "--set",
                "serve.max_batch_rows=300",
                "--set",
                "serve.max_body_bytes=400000",
                *extra,
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its workers too can be killed as one group
        )
        self.client = httpx.Client(base_url=self.url, timeout=30)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited: {self.proc.stderr.read() if self.proc.stderr else ''}"
                )
            try:
                if self.client.get("/health/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError("server did not become ready")

    def stop(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()  # reap it: an unreaped Popen warns (an error in the tests)
        if self.proc.stderr:
            self.proc.stderr.close()


def wait_for(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")

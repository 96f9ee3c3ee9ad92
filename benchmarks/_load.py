"""Closed-loop HTTP load generator shared by the serving benchmarks, run as its own process.

``N`` concurrent workers each keep one HTTP/1.1 keep-alive connection and POST the same JSON
body back to back, timing every request. The client is a minimal asyncio HTTP/1.1 client (it
writes a pre-built request and reads the status line, headers and ``Content-Length`` body), so
the generator spends as little CPU as possible next to the server it measures. When ``wrk`` is
installed, ``--generator wrk`` drives the same request with it instead.

As a program it prints one JSON object on stdout::

    python benchmarks/_load.py --url http://127.0.0.1:8000/predict --body body.json \\
        --concurrency 8 --seconds 10 --warmup 2

``--seconds 0`` runs until stdin is closed; ``--samples`` adds every request's
``[start (time.time()), latency ms, status]`` (status 0: a connection error).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

HERE = Path(__file__).resolve()


def percentile(values: list[float], q: float) -> float:
    """The ``q``-quantile (0..1) of ``values`` by the nearest-rank method; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


# --- the Python generator ----------------------------------------------------------------------


class _Conn:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        close = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                await self._chunked()
        if length:
            await self.reader.readexactly(length)
        if close:
            self.close()
        return status

    async def _chunked(self) -> None:
        assert self.reader is not None
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await self.reader.readexactly(size + 2)
            if size == 0:
                return

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _run_python(
    url: str, body: bytes, concurrency: int, seconds: float, warmup: float, samples: bool
) -> dict[str, Any]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    raw = (
        f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    measuring = False
    records: list[tuple[float, float, int]] = []
    errors = 0
    first_error = ""

    async def worker() -> None:
        nonlocal errors, first_error
        conn = _Conn(host, port)
        while not stop.is_set():
            wall = time.time()
            t0 = time.perf_counter()
            try:
                status = await conn.request(raw)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                conn.close()
                status = 0
                if not first_error:
                    first_error = f"{type(exc).__name__}: {exc}"
                await asyncio.sleep(0.01)
            latency = (time.perf_counter() - t0) * 1000
            if measuring:
                records.append((wall, latency, status))
                if status != 200:
                    errors += 1
        conn.close()

    tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
    await asyncio.sleep(warmup)
    measuring = True
    t_start = time.perf_counter()
    if seconds > 0:
        await asyncio.sleep(seconds)
    else:  # until stdin is closed
        threading.Thread(
            target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(stop.set)), daemon=True
        ).start()
        await stop.wait()
    measuring = False
    elapsed = time.perf_counter() - t_start
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    ok = [lat for _, lat, status in records if status == 200]
    out: dict[str, Any] = {
        "generator": "python-asyncio",
        "requests": len(records),
        "errors": errors,
        "first_error": first_error,
        "elapsed": elapsed,
        "rps": len(ok) / elapsed if elapsed else 0.0,
        "p50_ms": percentile(ok, 0.50),
        "p99_ms": percentile(ok, 0.99),
    }
    if samples:
        out["samples"] = records
    return out


# --- wrk -----------------------------------------------------------------------------------------


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def _wrk_ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text.strip())
    if not m:
        return math.nan
    value, unit = float(m.group(1)), m.group(2)
    return value * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}[unit]


def _run_wrk(url: str, body: bytes, concurrency: int, seconds: float, warmup: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "post.lua"
        text = body.decode()
        script.write_text(
            'wrk.method = "POST"\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = [==[{text}]==]\n"
        )
        threads = str(max(1, min(concurrency, 2)))
        base = ["wrk", "-t", threads, "-c", str(concurrency), "-s", str(script)]
        if warmup > 0:
            subprocess.run(
                [*base, "-d", f"{max(1, round(warmup))}s", url], capture_output=True, check=False
            )
        proc = subprocess.run(
            [*base, "-d", f"{max(1, round(seconds))}s", "--latency", url],
            capture_output=True,
            text=True,
            check=False,
        )
    out = proc.stdout
    if proc.returncode != 0:
        raise SystemExit(f"wrk failed: {proc.stderr or out}")
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    elapsed_m = re.search(r"requests in ([\d.]+\w+),", out)
    elapsed = _wrk_ms(elapsed_m.group(1)) / 1000 if elapsed_m else seconds
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (
        sum(int(g) for g in sock.groups()) if sock else 0
    )
    p50 = re.search(r"^\s*50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s*99%\s+(\S+)", out, re.M)
    return {
        "generator": "wrk",
        "requests": requests,
        "errors": errors,
        "first_error": "",
        "elapsed": elapsed,
        "rps": (requests - errors) / elapsed if elapsed else 0.0,
        "p50_ms": _wrk_ms(p50.group(1)) if p50 else math.nan,
        "p99_ms": _wrk_ms(p99.group(1)) if p99 else math.nan,
    }


# --- driving it from the benchmarks --------------------------------------------------------------


def _generator_cmd(
    url: str, body_path: str, concurrency: int, seconds: float, warmup: float
) -> list[str]:
    return [
        sys.executable,
        str(HERE),
        "--url",
        url,
        "--body",
        body_path,
        "--concurrency",
        str(concurrency),
        "--seconds",
        str(seconds),
        "--warmup",
        str(warmup),
    ]


def run_load(
    url: str,
    body: bytes,
    *,
    concurrency: int,
    seconds: float,
    warmup: float,
    generator: str = "python",
) -> dict[str, Any]:
    """Run the generator in a fresh process (never in the caller's, which may be the one timing
    swaps) and return its summary."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        f.write(body)
        body_path = f.name
    try:
        cmd = [
            *_generator_cmd(url, body_path, concurrency, seconds, warmup),
            "--generator",
            generator,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"load generator failed:\n{proc.stderr[-3000:]}")
        return json.loads(proc.stdout)
    finally:
        Path(body_path).unlink(missing_ok=True)


def start_load(
    url: str, body: bytes, *, concurrency: int, warmup: float, samples: bool = True
) -> tuple[subprocess.Popen[str], str]:
    """Start the Python generator until ``finish_load``; returns the process and body file."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        f.write(body)
        body_path = f.name
    cmd = _generator_cmd(url, body_path, concurrency, 0, warmup)
    if samples:
        cmd.append("--samples")
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    return proc, body_path


def finish_load(proc: subprocess.Popen[str], body_path: str) -> dict[str, Any]:
    try:
        out, err = proc.communicate(input="", timeout=120)
        if proc.returncode != 0:
            raise SystemExit(f"load generator failed:\n{err[-3000:]}")
        return json.loads(out)
    finally:
        Path(body_path).unlink(missing_ok=True)


# --- servers -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLPILOT_")}
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    # MLflow's scoring server runs ``uvicorn`` from PATH: the one next to this interpreter.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(extra)
    return env


class Server:
    """A server process in its own process group (so its workers die with it), stderr to a file;
    ``start`` waits until ``GET ready_path`` is 200 or fails loudly with that stderr."""

    def __init__(
        self, name: str, cmd: list[str], port: int, ready_path: str, env: dict[str, str]
    ) -> None:
        self.name, self.cmd, self.port, self.ready_path, self.env = name, cmd, port, ready_path, env
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-5000:]

    def start(self, timeout: float = 180.0) -> Server:
        self.proc = subprocess.Popen(
            self.cmd,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(
                    f"{self.name} exited with {self.proc.returncode} before it was ready:\n"
                    f"{' '.join(self.cmd)}\n{self.stderr()}"
                )
            try:
                status, _ = http_request(self.url + self.ready_path, timeout=2)
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.25)
        self.stop()
        raise SystemExit(f"{self.name} was not ready after {timeout:.0f}s:\n{self.stderr()}")

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            for sig, wait in ((signal.SIGINT, 15), (signal.SIGKILL, 10)):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        # anything left in the group (uvicorn workers, MLflow's child server)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        self.proc = None


def mlpilot_server(project: Path, port: int, *settings: str) -> Server:
    """``mlpilot serve`` of ``project`` on 127.0.0.1:``port``, one worker, extra ``--set``s."""
    cmd = [
        str(Path(sys.executable).parent / "mlpilot"),
        "serve",
        "--project",
        str(project),
        "--port",
        str(port),
        "--workers",
        "1",
        "--set",
        "serve.host=127.0.0.1",
    ]
    for setting in settings:
        cmd += ["--set", setting]
    return Server("mlpilot serve", cmd, port, "/health/ready", bench_env())


def http_request(url: str, body: Any = None, timeout: float = 30) -> tuple[int, Any]:
    """GET (or POST ``body`` as JSON) with the standard library; returns status and JSON."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            status = r.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{time.strftime('%Y-%m-%d %H:%M %Z')} · {platform.system()} {platform.machine()} · "
        f"{cpu} · {os.cpu_count()} cores · load average {os.getloadavg()[0]:.2f} · "
        f"Python {platform.python_version()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--body", required=True, help="A file holding the JSON request body.")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--samples", action="store_true")
    parser.add_argument("--generator", choices=("python", "wrk"), default="python")
    args = parser.parse_args()
    body = Path(args.body).read_bytes()
    if args.generator == "wrk":
        if args.seconds <= 0 or args.samples:
            raise SystemExit("wrk runs for a fixed duration and reports no samples")
        result = _run_wrk(args.url, body, args.concurrency, args.seconds, args.warmup)
    else:
        try:
            from uvloop import run as run_loop
        except ImportError:
            run_loop = asyncio.run
        result = run_loop(
            _run_python(args.url, body, args.concurrency, args.seconds, args.warmup, args.samples)
        )
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()

"""Order placement over real HTTP: uvicorn serving dsta.asgi on 127.0.0.1, POST /api/v1/orders with a JWT, each
order through validation, risk, the saga, the paper venue fill, fills and positions (bench/order_api.py has the
same path in process, with SQL round trips per order).

Run: `uv run python bench/order_http.py [--workers 2] [--connections 8] [--seconds 10] [--rate 100]`
(DATABASE_URL / REDIS_URL like the other benchmarks; its own database `<name>_bench`).

Phases, one server:
1. closed loop: `--connections` keep-alive connections each sending its next order as soon as the last answered;
   the sustained orders/s is the maximum throughput. Reference in the same run, same tool and connections:
   GET /healthz (the floor: HTTP, ASGI and Django's middleware, no database).
2. open loop: orders arrive at a fixed `--rate` per second whatever the latency (no coordinated omission:
   latency counts from each order's scheduled time), p50/p99/max reported.
Closed loops use `wrk` (C, Lua script for the POST) when it is installed, otherwise the asyncio client below.
Server CPU time per order (uvicorn processes, /proc) is printed too: on a shared machine it is the steadier
figure. The database's own CPU is not included.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

os.environ.setdefault("DSTA_JWT_ACCESS_TTL_SECONDS", "3600")  # outlive the run

from benchenv import setup_django  # noqa: E402
from order_env import bench_access_token, order_body, prepare_market  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_tree_cpu(pid: int) -> float:
    """utime + stime of `pid` and its descendants, in seconds."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICKS
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def database_cpu(database: str) -> float:
    """utime + stime of the Postgres backends serving `database` (their command line names it; only when the
    server runs on this machine, as here), in seconds."""
    total = 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() != "postgres":
                continue
            if f" {database} " not in (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICKS
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def percentile(samples: list[float], fraction: float) -> float:
    return sorted(samples)[max(int(len(samples) * fraction) - 1, 0)] * 1000


# -- a small keep-alive HTTP/1.1 client (the load generator when wrk is missing, and the open loop) ------------


class Connection:
    def __init__(self, port: int):
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def post_request(token: str, n: int) -> bytes:
    body = json.dumps(order_body(n)).encode()
    return (
        f"POST /api/v1/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def get_request(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


def order_ok(status: int, body: bytes) -> bool:
    return status == 201 and b'"status":"filled"' in body.replace(b" ", b"")


async def closed_loop_asyncio(port: int, make, connections: int, seconds: float) -> tuple[int, int, list[float]]:  # type: ignore[no-untyped-def]
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []
    failures = 0
    counter = iter(range(10**9))

    async def worker() -> None:
        nonlocal failures
        connection = Connection(port)
        while time.perf_counter() < deadline:
            n = next(counter)
            started = time.perf_counter()
            status, body = await connection.request(make(n))
            latencies.append(time.perf_counter() - started)
            failures += not (200 <= status < 300)
        connection.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return len(latencies), failures, latencies


async def open_loop(port: int, token: str, rate: float, seconds: float) -> tuple[list[float], int]:
    """Order i is due at start + i/rate; it waits for a free connection (more open as needed), and its latency
    runs from when it was due."""
    idle: list[Connection] = []
    latencies: list[float] = []
    failures = 0

    async def one(n: int, due: float) -> None:
        nonlocal failures
        connection = idle.pop() if idle else Connection(port)
        try:
            status, body = await connection.request(post_request(token, n))
        except (asyncio.IncompleteReadError, ConnectionError) as error:  # a failure to count, not to retry
            latencies.append(time.perf_counter() - due)
            failures += 1
            connection.close()
            print(f"order {n}: connection lost ({type(error).__name__})")
            return
        latencies.append(time.perf_counter() - due)
        failures += not order_ok(status, body)
        idle.append(connection)

    start = time.perf_counter() + 0.05
    tasks = []
    for n in range(int(rate * seconds)):
        due = start + n / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.create_task(one(n, due)))
    await asyncio.gather(*tasks)
    for connection in idle:
        connection.close()
    return latencies, failures


# -- wrk -----------------------------------------------------------------------------------------------------

WRK_SCRIPT = """
local token = "%s"
local n = 0
request = function()
  n = n + 1
  local side = (n %% 2 == 0) and "sell" or "buy"
  local body = '{"exchange":"paper","symbol":"BTC/USDT","side":"' .. side .. '","quantity":"0.01"}'
  return wrk.format("POST", "/api/v1/orders",
    {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, body)
end
"""


def wrk_run(url: str, connections: int, seconds: float, script: str | None) -> tuple[float, str, str]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", "--latency", url]
    if script:
        command[1:1] = ["-s", script]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s*([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+(\S+)", output)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return rate, p99.group(1) if p99 else "?", errors.group(1) if errors else "0"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rate", type=float, default=100, help="orders/s of the open loop")
    parser.add_argument("--no-wrk", action="store_true", help="use the asyncio client even if wrk is installed")
    args = parser.parse_args()
    setup_django()
    prepare_market()
    token = bench_access_token()
    from django.db import connections as db

    database = db["trading"].settings_dict["NAME"]

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "dsta.asgi:application", "--host", "127.0.0.1", "--port", str(port)]
        + ["--workers", str(args.workers), "--no-access-log", "--log-level", "warning", "--timeout-keep-alive", "60"],
        cwd=ROOT,
        env=os.environ.copy(),
    )
    use_wrk = shutil.which("wrk") is not None and not args.no_wrk
    try:
        asyncio.run(wait_ready(port))
        # warm every worker: imports, connections, caches
        asyncio.run(closed_loop_asyncio(port, lambda n: post_request(token, n), args.workers * 4, 2))
        print(
            f"uvicorn --workers {args.workers} on 127.0.0.1; {args.connections} keep-alive connections; "
            f"load generator: {'wrk' if use_wrk else 'asyncio'}; {os.cpu_count()} CPUs, load average "
            f"{os.getloadavg()[0]:.1f} at start (shared machine: absolute numbers are noisy)"
        )
        base = f"http://127.0.0.1:{port}"
        if use_wrk:
            rate, p99, errors = wrk_run(f"{base}/healthz", args.connections, args.seconds, None)
            print(f"reference GET /healthz          {rate:8.1f} req/s     p99 {p99}")
            with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
                script.write(WRK_SCRIPT % token)
            cpu, db_cpu = process_tree_cpu(server.pid), database_cpu(database)
            before = count_filled(db)
            rate, p99, errors = wrk_run(f"{base}/api/v1/orders", args.connections, args.seconds, script.name)
            cpu, db_cpu = process_tree_cpu(server.pid) - cpu, database_cpu(database) - db_cpu
            placed = count_filled(db) - before
            os.unlink(script.name)
            print(
                f"closed loop POST /api/v1/orders {rate:8.1f} orders/s  p99 {p99}  non-2xx {errors}  "
                f"server cpu {cpu / max(placed, 1) * 1000:.2f} ms/order, database "
                f"{db_cpu / max(placed, 1) * 1000:.2f} ms/order ({placed} filled)"
            )
        else:
            count, failures, latencies = asyncio.run(
                closed_loop_asyncio(port, lambda n: get_request("/healthz"), args.connections, args.seconds)
            )
            print(f"reference GET /healthz          {count / args.seconds:8.1f} req/s")
            cpu = process_tree_cpu(server.pid)
            count, failures, latencies = asyncio.run(
                closed_loop_asyncio(port, lambda n: post_request(token, n), args.connections, args.seconds)
            )
            cpu = process_tree_cpu(server.pid) - cpu
            print(
                f"closed loop POST /api/v1/orders {count / args.seconds:8.1f} orders/s  "
                f"p99 {percentile(latencies, 0.99):.1f} ms  failures {failures}  "
                f"server cpu {cpu / max(count, 1) * 1000:.2f} ms/order"
            )
        cpu, db_cpu = process_tree_cpu(server.pid), database_cpu(database)
        latencies, failures = asyncio.run(open_loop(port, token, args.rate, args.seconds))
        cpu, db_cpu = process_tree_cpu(server.pid) - cpu, database_cpu(database) - db_cpu
        print(
            f"open loop at {args.rate:g} orders/s        p50 {percentile(latencies, 0.5):6.1f} ms  "
            f"p99 {percentile(latencies, 0.99):6.1f} ms  max {max(latencies) * 1000:6.1f} ms  "
            f"failures {failures} of {len(latencies)}  server cpu {cpu / len(latencies) * 1000:.2f} ms/order, "
            f"database {db_cpu / len(latencies) * 1000:.2f} ms/order"
        )
        print("target (issue 6): >= 300 orders/s sustained; p99 < 50 ms at 100 orders/s")
        return 1 if failures else 0
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def count_filled(db) -> int:  # type: ignore[no-untyped-def]
    with db["trading"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM \"order\" WHERE status = 'filled'")
        return int(cursor.fetchone()[0])


async def wait_ready(port: int) -> None:
    for _ in range(1800):  # workers import Django and the domains: slow on a busy machine
        try:
            connection = Connection(port)
            status, _ = await connection.request(get_request("/healthz"))
            connection.close()
            if status == 200:
                return
        except OSError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("uvicorn did not come up")


if __name__ == "__main__":
    sys.exit(main())

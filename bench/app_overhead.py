"""Overhead of the app's instrumentation (Prometheus metrics + JSON access logs) under real HTTP load.

Starts the real service twice side by side on 127.0.0.1 (``python -m orders_api`` from ``app/``):
instrumented (``APP_INSTRUMENTATION=on``, the default) and uninstrumented (``APP_INSTRUMENTATION=off``, a
setting that exists only for this comparison). Both write stdout to a file, as a container runtime does.
A keep-alive HTTP/1.1 load generator (asyncio, raw sockets: light enough not to be the bottleneck) drives
one server at a time, alternating A B B A ... over several rounds so that machine noise hits both
alike. A process's speed depends on its memory layout and hash seed, a bias that would persist through
every round of one process: so the rounds are spread over ``--generations`` fresh pairs of server
processes (default 5 pairs of 4 rounds each). The mix is 70 % ``GET /orders?limit=5``, 20 %
``GET /orders/{id}``, 10 % authenticated ``POST /orders``. With two or more CPUs the servers are pinned
to one CPU and the generator to another.

Prints requests/s and p95 latency of each and the throughput ratio instrumented / uninstrumented: over the
whole run, and as the median of the per-round ratios (rounds of both run back to back, so this cancels
drifts in machine load; it is the verdict). Also prints the server CPU time per request of each (from
/proc), whose ratio is the capacity ratio of a dedicated core. Exits 1 when the median ratio is below
``--target`` (0.90), on any non-2xx answer, or if the instrumented server did not count every request.

    python bench/app_overhead.py [--connections 16] [--seconds 2] [--rounds 20] [--generations 5] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP_DIR = ROOT / "app"
API_KEY = "bench-api-key-not-a-real-secret"
ORDER = json.dumps(
    {"customer_id": "bench", "currency": "EUR", "items": [{"sku": "BOOK-42", "quantity": 2, "unit_price_cents": 1250}]}
).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Variant:
    name: str
    instrumentation: str
    log_path: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    order_id: str = ""
    requests: int = 0
    seconds: float = 0.0
    errors: int = 0
    cpu_seconds: float = 0.0  # CPU time the server process used while driven
    latencies: list[float] = field(default_factory=list)
    rounds: list[float] = field(default_factory=list)  # req/s per round

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, cpu: int | None, log_path: Path) -> None:
        """Start a fresh server process on a new free port, writing stdout to ``log_path``."""
        self.log_path = log_path
        self.port = free_port()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "APP_HOST": "127.0.0.1",
            "APP_PORT": str(self.port),
            "APP_INSTRUMENTATION": self.instrumentation,
            "APP_LOG_LEVEL": "info",
            "APP_VERSION": "bench",
            "APP_SECRET_API_KEY": API_KEY,
        }
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "orders_api"],
                cwd=APP_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if cpu is not None:
            os.sched_setaffinity(self.proc.pid, {cpu})
        deadline = time.monotonic() + 120  # generous: start-up is slow on a loaded machine
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} server exited:\n{self.log_path.read_text()[-2000:]}")
            with contextlib.suppress(OSError), urllib.request.urlopen(self.url + "/readyz", timeout=1) as resp:  # noqa: S310 - loopback
                if resp.status == 200:
                    break
            time.sleep(0.1)
        else:
            raise TimeoutError(f"{self.name} server did not become ready")
        request = urllib.request.Request(  # noqa: S310
            self.url + "/orders",
            data=ORDER,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {API_KEY}",
            },
        )
        with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310 - loopback
            self.order_id = json.loads(resp.read())["id"]

    def cpu(self) -> float:
        """user + system CPU seconds of the server process so far (Linux /proc)."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def mix(self) -> list[bytes]:
        """Ten prepared requests: 7 list, 2 get, 1 create."""
        host = f"Host: 127.0.0.1:{self.port}\r\n".encode()
        listing = b"GET /orders?limit=5 HTTP/1.1\r\n" + host + b"\r\n"
        get = f"GET /orders/{self.order_id} HTTP/1.1\r\n".encode() + host + b"\r\n"
        post = (
            b"POST /orders HTTP/1.1\r\n"
            + host
            + b"Content-Type: application/json\r\n"
            + f"Authorization: Bearer {API_KEY}\r\nContent-Length: {len(ORDER)}\r\n\r\n".encode()
            + ORDER
        )
        return [listing, get, listing, listing, post, listing, get, listing, listing, listing]


async def _connection(
    port: int, mix: list[bytes], offset: int, deadline: float, latencies: list[float], counts: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = offset
    try:
        while time.perf_counter() < deadline:
            request = mix[i % len(mix)]
            i += 1
            started = time.perf_counter()
            writer.write(request)
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            counts[0] += 1
            if not status_line.startswith((b"HTTP/1.1 200", b"HTTP/1.1 201")):
                counts[1] += 1
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def drive(variant: Variant, connections: int, seconds: float) -> tuple[int, int, float, list[float]]:
    latencies: list[float] = []
    counts = [0, 0]
    mix = variant.mix()
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(_connection(variant.port, mix, n, deadline, latencies, counts) for n in range(connections)))
    return counts[0], counts[1], time.perf_counter() - started, latencies


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[94] if len(values) > 1 else float("nan")


def scraped_requests(variant: Variant) -> float:
    with urllib.request.urlopen(variant.url + "/metrics", timeout=5) as resp:  # noqa: S310 - loopback
        text = resp.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("http_requests_total{"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=16, help="concurrent keep-alive connections")
    parser.add_argument("--seconds", type=float, default=2.0, help="duration of one round per server")
    parser.add_argument("--rounds", type=int, default=20, help="measured rounds per server (alternating)")
    parser.add_argument(
        "--generations", type=int, default=5, help="fresh pairs of server processes the rounds are spread over"
    )
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured warm-up seconds per server")
    parser.add_argument("--target", type=float, default=0.90, help="minimum throughput ratio")
    parser.add_argument("--json", action="store_true", help="also print a JSON summary line")
    args = parser.parse_args(argv)
    if args.connections < 1 or args.seconds <= 0 or args.rounds < 1 or args.generations < 1:
        parser.error("--connections >= 1, --seconds > 0, --rounds >= 1 and --generations >= 1 are required")

    cpus = sorted(os.sched_getaffinity(0))
    server_cpu = cpus[-1] if len(cpus) >= 2 else None
    if server_cpu is not None:
        os.sched_setaffinity(0, set(cpus[:-1]))  # the load generator stays off the servers' CPU

    generations = max(1, min(args.generations, args.rounds))
    with tempfile.TemporaryDirectory(prefix="app-overhead-") as tmp:
        on = Variant("instrumented", "on", Path(tmp))
        off = Variant("uninstrumented", "off", Path(tmp))
        print(
            f"# servers pinned to CPU {server_cpu}, load generator on {cpus[:-1] or cpus}; "
            f"{args.connections} connections, {args.rounds} x {args.seconds:g} s per server, "
            f"over {generations} fresh pairs of server processes",
            flush=True,
        )
        counted = 0.0
        access_lines = 0
        r = 0
        for g in range(generations):
            rounds_here = args.rounds // generations + (1 if g < args.rounds % generations else 0)
            try:
                for variant in (on, off):
                    variant.start(server_cpu, Path(tmp) / f"{variant.name}-{g}.log")
                for variant in (on, off):
                    asyncio.run(drive(variant, args.connections, args.warmup))
                before = scraped_requests(on)
                for _ in range(rounds_here):
                    order = (on, off) if r % 2 == 0 else (off, on)  # A B, B A, A B ...
                    r += 1
                    for variant in order:
                        cpu_before = variant.cpu()
                        done, errors, elapsed, latencies = asyncio.run(drive(variant, args.connections, args.seconds))
                        cpu_used = variant.cpu() - cpu_before
                        variant.requests += done
                        variant.errors += errors
                        variant.seconds += elapsed
                        variant.cpu_seconds += cpu_used
                        variant.latencies.extend(latencies)
                        variant.rounds.append(done / elapsed)
                        print(
                            f"round {r:2d} {variant.name:>14}: {done / elapsed:8.0f} req/s  "
                            f"p95 {p95(latencies) * 1000:6.2f} ms  server CPU {cpu_used / done * 1e6:5.0f} "
                            f"us/req ({cpu_used / elapsed:4.0%} of a core)  [process pair {g + 1}]",
                            flush=True,
                        )
                counted += scraped_requests(on) - before
            finally:
                for variant in (on, off):
                    variant.stop()
            access_lines += sum(1 for line in on.log_path.read_text().splitlines() if '"orders_api.access"' in line)

    rate = {v.name: v.requests / v.seconds for v in (on, off)}
    cpu_per_request = {v.name: v.cpu_seconds / v.requests for v in (on, off)}
    ratio = rate["instrumented"] / rate["uninstrumented"]
    # Rounds r of both variants ran back to back: their ratio cancels slow drifts of machine load.
    paired = statistics.median(a / b for a, b in zip(on.rounds, off.rounds, strict=True))
    cpu_ratio = cpu_per_request["uninstrumented"] / cpu_per_request["instrumented"]
    print()
    for v in (on, off):
        print(
            f"{v.name:>14}: {rate[v.name]:8.0f} req/s  p95 {p95(v.latencies) * 1000:6.2f} ms  "
            f"server CPU {cpu_per_request[v.name] * 1e6:5.0f} us/req  "
            f"({v.requests} requests, {v.errors} non-2xx)"
        )
    print(f"{'ratio':>14}: {ratio:.3f} throughput, instrumented / uninstrumented (whole run)")
    print(f"{'':>14}  {paired:.3f} median of the per-round throughput ratios (verdict; target >= {args.target:.2f})")
    print(f"{'':>14}  {cpu_ratio:.3f} CPU per request, uninstrumented / instrumented (capacity of one core)")
    print(
        f"# instrumentation check: the instrumented server counted {counted:.0f} requests in "
        f"http_requests_total and wrote {access_lines} JSON access-log lines"
    )
    ok = paired >= args.target and on.errors == 0 and off.errors == 0 and counted == on.requests
    if args.json:
        print(
            json.dumps(
                {
                    "connections": args.connections,
                    "rounds": args.rounds,
                    "generations": generations,
                    "seconds_per_round": args.seconds,
                    "instrumented": {
                        "rps": round(rate["instrumented"], 1),
                        "p95_ms": round(p95(on.latencies) * 1000, 3),
                        "requests": on.requests,
                        "errors": on.errors,
                    },
                    "uninstrumented": {
                        "rps": round(rate["uninstrumented"], 1),
                        "p95_ms": round(p95(off.latencies) * 1000, 3),
                        "requests": off.requests,
                        "errors": off.errors,
                    },
                    "ratio": round(ratio, 4),
                    "ratio_median_paired": round(paired, 4),
                    "cpu_ratio": round(cpu_ratio, 4),
                    "target": args.target,
                    "ok": ok,
                }
            )
        )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

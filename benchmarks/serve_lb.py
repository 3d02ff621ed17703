"""What the serve load balancer costs: throughput and added latency, proxied vs direct.

    python benchmarks/serve_lb.py [--seconds 5] [--concurrency 16] [--requests 2000]

One replica (an aiohttp app in its own process) answers ``/small`` (13 bytes) and
``/big`` (1 MiB, streamed in 64 KiB chunks). The stix-serve load balancer runs in its
own process with that one replica behind it. A client process measures, for each path,
requests per second at a fixed concurrency and the latency of sequential requests, once
directly against the replica and once through the load balancer, over ``--repeat``
interleaved rounds (medians reported). CPU per request comes from ``/proc``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

REPLICA = r"""
import sys
from aiohttp import web

SMALL = b"hello, world\n"
CHUNK = b"x" * 65536

async def small(request):
    return web.Response(body=SMALL)

async def big(request):
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(request)
    for _ in range(16):
        await response.write(CHUNK)
    await response.write_eof()
    return response

app = web.Application()
app.router.add_get("/small", small)
app.router.add_get("/big", big)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_up(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                response.read()
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


async def throughput(url: str, seconds: float, concurrency: int) -> float:
    import aiohttp

    done = 0
    stop = time.perf_counter() + seconds

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal done
        while time.perf_counter() < stop:
            async with session.get(url) as response:
                await response.read()
                assert response.status == 200
            done += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        return done / (time.perf_counter() - start)


async def latencies(url: str, count: int) -> list[float]:
    import aiohttp

    out = []
    async with aiohttp.ClientSession() as session:
        for _ in range(count):
            start = time.perf_counter()
            async with session.get(url) as response:
                await response.read()
            out.append((time.perf_counter() - start) * 1000)
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(
    base: str, path: str, args: argparse.Namespace, pids: dict[str, int]
) -> dict[str, float]:
    url = base + path
    count = args.requests if path == "/small" else max(50, args.requests // 10)
    asyncio.run(latencies(url, 50))  # warm-up: connections, caches
    lat = asyncio.run(latencies(url, count))
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    client_before = time.process_time()
    rps = asyncio.run(throughput(url, args.seconds, args.concurrency))
    requests = rps * args.seconds
    cpu = {
        f"{name}_cpu_us": round((cpu_seconds(pid) - before[name]) / requests * 1e6, 1)
        for name, pid in pids.items()
    }
    cpu["client_cpu_us"] = round((time.process_time() - client_before) / requests * 1e6, 1)
    return {
        **cpu,
        "rps": round(rps, 1),
        "p50_ms": round(statistics.median(lat), 3),
        "p99_ms": round(percentile(lat, 0.99), 3),
    }


def ceiling(direct: dict[str, float], proxied: dict[str, float]) -> float:
    """The best throughput ratio this machine allows, from CPU per request alone.

    Each process is single-threaded (at most one core) and all of them share
    ``os.cpu_count()`` cores: direct is the client and the replica, proxied adds the load
    balancer. A proxy that cost nothing would reach 1.0.
    """
    cores = os.cpu_count() or 1

    def best_rps(costs: list[float]) -> float:
        return min(1e6 / max(costs), cores * 1e6 / sum(costs))

    plain = best_rps([direct["client_cpu_us"], direct["replica_cpu_us"]])
    relayed = best_rps([proxied["client_cpu_us"], proxied["replica_cpu_us"], proxied["lb_cpu_us"]])
    return relayed / plain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; medians are reported")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()

    replica_port, lb_port = free_port(), free_port()
    replica_url = f"http://127.0.0.1:{replica_port}"
    procs = [
        subprocess.Popen([sys.executable, "-c", REPLICA, str(replica_port)]),
        subprocess.Popen([sys.executable, "-m", "stix_serve.balancer", str(lb_port), replica_url]),
    ]
    try:
        wait_up(replica_url + "/small")
        wait_up(f"http://127.0.0.1:{lb_port}/small")
        results = {}
        pids = {"replica": procs[0].pid, "lb": procs[1].pid}
        for path in ("/small", "/big"):
            rounds = []
            for _ in range(args.repeat):  # interleaved, so that both see the same load
                rounds.append(
                    (
                        measure(replica_url, path, args, pids),
                        measure(f"http://127.0.0.1:{lb_port}", path, args, pids),
                    )
                )
            direct = {k: statistics.median(r[0][k] for r in rounds) for k in rounds[0][0]}
            proxied = {k: statistics.median(r[1][k] for r in rounds) for k in rounds[0][1]}
            results[path] = {
                "ceiling": round(ceiling(direct, proxied), 3),
                "direct": direct,
                "lb": proxied,
                "rps_ratio": round(statistics.median(r[1]["rps"] / r[0]["rps"] for r in rounds), 3),
                "added_p50_ms": round(
                    statistics.median(r[1]["p50_ms"] - r[0]["p50_ms"] for r in rounds), 3
                ),
                "added_p99_ms": round(
                    statistics.median(r[1]["p99_ms"] - r[0]["p99_ms"] for r in rounds), 3
                ),
            }
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(
        "| response | direct rps | via LB rps | ratio | direct p50 / p99 ms | via LB p50 / p99 ms "
        "| added p50 / p99 ms | CPU per request: client / replica / LB | CPU-bound ceiling |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for path, r in results.items():
        label = "13 B" if path == "/small" else "1 MiB streamed"
        d, p = r["direct"], r["lb"]
        print(
            f"| {label} | {d['rps']:,.0f} | {p['rps']:,.0f} | {r['rps_ratio']:.2f}x "
            f"| {d['p50_ms']:.2f} / {d['p99_ms']:.2f} | {p['p50_ms']:.2f} / {p['p99_ms']:.2f} "
            f"| {r['added_p50_ms']:.2f} / {r['added_p99_ms']:.2f} "
            f"| {p['client_cpu_us']:.0f} / {p['replica_cpu_us']:.0f} / {p['lb_cpu_us']:.0f} µs "
            f"| {r['ceiling']:.2f}x |"
        )


if __name__ == "__main__":
    main()

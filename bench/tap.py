"""Benchmark: latency and throughput through the tap vs straight to the generator, same run.

    python bench/tap.py [--seconds 20] [--concurrency 16] [--rounds 4] [--intake shed|accept]
                        [--no-pin] [--profile FILE]

Three kinds of process, so that none starves another inside one interpreter:

- the generator (uvicorn, httptools + uvloop): ``POST /v1/images/generations`` answers after a
  fixed 50 ms with a 256 KB OpenAI-style body (one ``b64_json`` image);
- the tap (`driftmon.sources.tap.Tap`, as the daemon runs it: asyncio's loop, uvicorn with
  httptools) in front of it, with `sample_ratio` 0.1, then 1.0, offering to an intake that sheds
  every sample (`--intake shed`, the default: a busy scorer; after a shed the tap copies nothing
  for a second, then offers one again) or takes every one (`--intake accept`: every sampled
  answer copied, parsed and offered; the journal write is bench/intake.py's to measure);
- the load: `--concurrency` keep-alive connections in a process of its own, on a minimal
  HTTP/1.1 client (a few µs per request, so the load generator's own parsing does not dominate).

Direct and tapped runs alternate (`--rounds` each, `--seconds` per side in all), so both see the
same machine. With two or more CPUs the tap is pinned to the last CPU and the generator and the
load to the others (`os.sched_setaffinity`; `--no-pin` to share them all): the added latency is
then the proxy's own, not the queueing of three busy processes on a shared core. Printed: the
machine (CPUs, load average before and after), p50/p99 latency, requests/s, how busy the whole
machine was on each side (/proc/stat: near 100% means every process queues), the ratios and the
tap's CPU time per request (from /proc). Targets (issue 15): added latency ≤ 1 ms p50, ≤ 5 ms
p99, throughput ≥ 95% of direct. `--profile FILE` writes the tap's cProfile stats (ratio 1.0).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PATH = "/v1/images/generations"

GENERATOR = textwrap.dedent(
    """
    import asyncio, base64, json, os, sys, uvicorn
    image = base64.b64encode(b"\\x89PNG\\r\\n\\x1a\\n" + os.urandom(192 * 1024)).decode()
    body = json.dumps({"created": 1, "data": [{"b64_json": image}]}).encode()
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        await asyncio.sleep(0.05)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                access_log=False, http="httptools", loop="uvloop")
    """
)

TAP = textwrap.dedent(
    """
    import asyncio, contextlib, cProfile, signal, sys
    from driftmon.errors import Shed
    from driftmon.sources.tap import Tap, TapConfig
    async def shed(offer):
        raise Shed("busy")
    async def accept(offer):
        return None
    async def main(stopped):
        config = TapConfig(enabled=True, listen=f"127.0.0.1:{sys.argv[1]}",
                           upstream=f"http://127.0.0.1:{sys.argv[2]}", sample_ratio=float(sys.argv[3]))
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
        async with contextlib.AsyncExitStack() as stack:
            await Tap(config, shed if sys.argv[5] == "shed" else accept).start(stack)
            await stopped.wait()
    profile = cProfile.Profile() if sys.argv[4] else None
    if profile:
        profile.enable()
    asyncio.run(main(asyncio.Event()))  # asyncio's loop, as in the daemon
    if profile:
        profile.disable()
        profile.dump_stats(sys.argv[4])
    """
)

LOAD = textwrap.dedent(
    """
    import asyncio, json, sys, time
    host, port, seconds, concurrency = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    body = json.dumps({"prompt": 'a sign that says "BENCH"', "n": 1, "response_format": "b64_json"}).encode()
    request = (f"POST {sys.argv[5]} HTTP/1.1\\r\\nhost: {host}:{port}\\r\\n"
               f"content-type: application/json\\r\\ncontent-length: {len(body)}\\r\\n\\r\\n").encode() + body

    async def answer(reader):
        head = await reader.readuntil(b"\\r\\n\\r\\n")
        status = int(head.split(b" ", 2)[1])
        fields = {}
        for line in head.split(b"\\r\\n")[1:]:
            name, _, value = line.partition(b":")
            fields[name.strip().lower()] = value.strip()
        if b"content-length" in fields:
            await reader.readexactly(int(fields[b"content-length"]))
        else:  # chunked
            while size := int((await reader.readuntil(b"\\r\\n")).split(b";")[0], 16):
                await reader.readexactly(size + 2)
            await reader.readuntil(b"\\r\\n")
        return status

    async def worker(deadline, latencies, errors):
        reader, writer = await asyncio.open_connection(host, port)
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(request)
            status = await answer(reader)
            if status == 200:
                latencies.append(time.perf_counter() - started)
            else:
                errors.append(status)
        writer.close()

    async def main():
        latencies, errors = [], []
        deadline = time.perf_counter() + seconds
        await asyncio.gather(*(worker(deadline, latencies, errors) for _ in range(concurrency)))
        print(json.dumps({"latencies": latencies, "errors": len(errors)}))
    asyncio.run(main())
    """
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine so far, from /proc/stat (every CPU)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def placement(pin: bool) -> tuple[set[int] | None, set[int] | None]:
    """CPU sets for (the tap, the generator and the load): the last CPU for the tap, the rest for
    the others; (None, None) to share every CPU."""
    cpus = sorted(os.sched_getaffinity(0))
    if not pin or len(cpus) < 2:
        return None, None
    return {cpus[-1]}, set(cpus[:-1])


def spawn(code: str, args: list[str], cpus: set[int] | None, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-c", code, *args], env=env, **kwargs)
    if cpus is not None:
        os.sched_setaffinity(process.pid, cpus)
    return process


def wait_up(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def load(port: int, seconds: float, concurrency: int, cpus: set[int] | None) -> tuple[list[float], int]:
    args = ["127.0.0.1", str(port), str(seconds), str(concurrency), PATH]
    process = spawn(LOAD, args, cpus, stdout=subprocess.PIPE, text=True)
    out, _ = process.communicate(timeout=seconds + 60)
    result = json.loads(out)
    return result["latencies"], int(result["errors"])


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000 if len(values) > 1 else float("nan")


def run_ratio(ratio: float, gen_port: int, args: argparse.Namespace, profile: str) -> dict[str, float]:
    tap_cpus, other_cpus = placement(not args.no_pin)
    tap_port = free_port()
    tap = spawn(TAP, [str(tap_port), str(gen_port), str(ratio), profile, args.intake], tap_cpus)
    try:
        wait_up(tap_port)
        load(tap_port, 1.0, args.concurrency, other_cpus)  # warm both paths
        load(gen_port, 1.0, args.concurrency, other_cpus)
        results: dict[str, list[float]] = {"direct": [], "tap": []}
        errors = {"direct": 0, "tap": 0}
        cpu = 0.0
        busy = {"direct": [0, 0], "tap": [0, 0]}
        side = args.seconds / args.rounds
        for _ in range(args.rounds):
            for name, port in (("direct", gen_port), ("tap", tap_port)):
                before, machine_before = cpu_seconds(tap.pid), machine_jiffies()
                latencies, failed = load(port, side, args.concurrency, other_cpus)
                if name == "tap":
                    cpu += cpu_seconds(tap.pid) - before
                for i, value in enumerate(machine_jiffies()):
                    busy[name][i] += value - machine_before[i]
                results[name] += latencies
                errors[name] += failed
    finally:
        tap.terminate()
        tap.wait(30)
    direct, tapped = results["direct"], results["tap"]
    print(f"sample_ratio {ratio}:")
    for name, values in results.items():
        print(
            f"  {name:6s} p50 {pct(values, 50):7.2f} ms  p99 {pct(values, 99):7.2f} ms  "
            f"{len(values) / args.seconds:7.1f} req/s  ({errors[name]} errors);"
            f" machine {busy[name][0] / max(1, busy[name][1]):4.0%} busy"
        )
    figures = {
        "added_p50_ms": pct(tapped, 50) - pct(direct, 50),
        "added_p99_ms": pct(tapped, 99) - pct(direct, 99),
        "throughput_ratio": len(tapped) / len(direct),
        "tap_cpu_ms_per_request": cpu / max(1, len(tapped)) * 1000,
    }
    print(
        f"  added p50 {figures['added_p50_ms']:+.2f} ms, p99 {figures['added_p99_ms']:+.2f} ms;"
        f" throughput ratio {figures['throughput_ratio']:.3f};"
        f" tap CPU {figures['tap_cpu_ms_per_request']:.2f} ms/request"
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="per side (direct, tap), in all")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=4, help="alternations of direct and tap")
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.1, 1.0])
    parser.add_argument("--no-pin", action="store_true", help="let every process use every CPU")
    parser.add_argument(
        "--intake",
        choices=("shed", "accept"),
        default="shed",
        help="shed: a busy scorer sheds every offer; accept: every sampled answer is extracted and "
        "taken (the journal's own cost is bench/intake.py's)",
    )
    parser.add_argument("--profile", default="", help="write the tap's cProfile stats here (last ratio)")
    args = parser.parse_args()
    tap_cpus, other_cpus = placement(not args.no_pin)
    gen_port = free_port()
    generator = spawn(GENERATOR, [str(gen_port)], other_cpus)
    try:
        wait_up(gen_port)
        where = "unpinned"
        if tap_cpus and other_cpus:
            where = f"tap on CPU {sorted(tap_cpus)}, generator and load on {sorted(other_cpus)}"
        print(
            f"{os.cpu_count()} CPUs ({where}), load average {os.getloadavg()[0]:.2f} before;"
            f" {args.concurrency} clients, {args.seconds:g} s per side in {args.rounds} rounds;"
            f" the intake {'sheds' if args.intake == 'shed' else 'accepts'} every offer"
        )
        for index, ratio in enumerate(args.ratios):
            profile = args.profile if index == len(args.ratios) - 1 else ""
            run_ratio(ratio, gen_port, args, profile)
        print(f"load average {os.getloadavg()[0]:.2f} after")
    finally:
        generator.terminate()
        generator.wait(10)


if __name__ == "__main__":
    main()

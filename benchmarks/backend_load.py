"""Load on a real `sketchify serve` (tiny models, CPU, 127.0.0.1 only), for a bounded time.

Prints: status-call latency on an idle server (the baseline) and while a job runs (p50/p99,
target p99 < 50 ms, and the ratio to the baseline); submission latency and jobs/s with many
clients submitting and polling at once.

    python benchmarks/backend_load.py [--clients 8] [--seconds 10] [--steps 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))
from backend_helpers import png_bytes, sketcher_args  # noqa: E402
from tiny_models import make_tiny_models  # noqa: E402

TOKEN = "benchmark"


def start_server(workdir: Path) -> tuple[subprocess.Popen, str]:
    models = sketcher_args(make_tiny_models(workdir / "models"))
    cli = "from sketchify.backend.cli import main; raise SystemExit(main())"
    args = [sys.executable, "-c", cli, "serve", "--port", "0", "--device", "cpu", "--token", TOKEN,
            "--data-dir", str(workdir / "data"), "--threads", "16"]
    for name, value in models.items():
        args += [f"--{name.replace('_', '-')}", value]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = proc.stdout.readline().decode()
    if "serving on" not in line:
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return proc, line.split("serving on ")[1].split()[0]


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def percentiles(samples: list[float]) -> str:
    p50, top = statistics.median(samples) * 1000, p99(samples) * 1000
    return f"n={len(samples):5d}  p50={p50:6.1f} ms  p99={top:6.1f} ms"


def session() -> requests.Session:
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {TOKEN}"
    return http


def poll_status(
    url: str, job_id: str, clients: int, seconds: float, every: float
) -> list[float]:
    """``clients`` threads GET the job's status every ``every`` seconds for ``seconds``."""
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        mine = []
        with session() as http:
            http.get(f"{url}/v1/sketches/{job_id}", timeout=10)  # warm-up: connect first
            while time.monotonic() < deadline:
                t0 = time.perf_counter()
                http.get(f"{url}/v1/sketches/{job_id}", timeout=10).raise_for_status()
                mine.append(time.perf_counter() - t0)
                time.sleep(max(0.0, every - mine[-1]))
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


def submit(http: requests.Session, url: str, **fields: str) -> tuple[str, float]:
    t0 = time.perf_counter()
    response = http.post(f"{url}/v1/sketches", files={"image": ("p.png", IMAGE)},
                         data={"seeds": "1", **fields}, timeout=30)
    elapsed = time.perf_counter() - t0
    response.raise_for_status()
    return response.json()["id"], elapsed


def throughput(url: str, clients: int, seconds: float, steps: int) -> tuple[int, float, list]:
    """Each client submits a job and polls it to the end, over and over, for ``seconds``."""
    done, submits = [], []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        with session() as http:
            while time.monotonic() < deadline:
                job_id, took = submit(http, url, strokes="4", steps=str(steps), preset="draft")
                with lock:
                    submits.append(took)
                for _ in range(int(seconds * 200)):  # bounded poll
                    status = http.get(f"{url}/v1/sketches/{job_id}", timeout=10).json()["status"]
                    if status != "queued" and status != "running":
                        break
                    time.sleep(0.02)
                with lock:
                    done.append(status)

    t0 = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done.count("done"), time.monotonic() - t0, submits


IMAGE = png_bytes(160, 120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--steps", type=int, default=3, help="steps per job in the jobs/s phase")
    parser.add_argument("--poll-every", type=float, default=0.05,
                        help="seconds between one client's status calls (0: back to back)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(tmp))
        try:
            http = session()
            idle_job, _ = submit(http, url, strokes="4", steps="1")
            while http.get(f"{url}/v1/sketches/{idle_job}").json()["status"] != "done":
                time.sleep(0.05)
            idle = poll_status(url, idle_job, args.clients, args.seconds / 2, args.poll_every)

            busy_job, _ = submit(http, url, strokes="16", steps="10000")
            while http.get(f"{url}/v1/sketches/{busy_job}").json()["status"] != "running":
                time.sleep(0.05)
            busy = poll_status(url, busy_job, args.clients, args.seconds / 2, args.poll_every)
            http.delete(f"{url}/v1/sketches/{busy_job}")

            completed, elapsed, submits = throughput(url, args.clients, args.seconds, args.steps)
        finally:
            proc.terminate()
            proc.wait(30)
    print(f"clients={args.clients}  seconds={args.seconds:g}  steps/job={args.steps}  "
          f"poll every {args.poll_every:g} s")
    half = args.seconds / 2
    print(f"status, idle server (baseline):  {percentiles(idle)}  {len(idle) / half:.0f} req/s")
    print(f"status, while a job runs:        {percentiles(busy)}  {len(busy) / half:.0f} req/s"
          "   (target p99 < 50 ms)")
    print(f"  p99 ratio running/idle: {p99(busy) / p99(idle):.2f}x")
    print(f"submissions:                     {percentiles(submits)}")
    rate = completed / elapsed
    print(f"throughput: {completed} jobs done in {elapsed:.1f} s = {rate:.2f} jobs/s")


if __name__ == "__main__":
    main()

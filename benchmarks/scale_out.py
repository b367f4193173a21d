"""Jobs per second through the Celery executor with one worker, then two, in the same run.

Real parts: redis-server on a free loopback port, `sketchify worker` processes with the tiny
random-weight models on the CPU (one torch thread each, standing in for one GPU each), and the
API front served by waitress on 127.0.0.1; jobs are submitted and polled over HTTP.

    python benchmarks/scale_out.py [--jobs 12] [--steps 40]

Target: two workers >= 1.6x one worker, when each worker has a core of its own.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import requests
import waitress

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "support"))

from celery_fixtures import (
    HOST,
    RedisServer,
    free_port,
    image_bytes,
    model_flags,
    single_thread_env,
    sketchify_cmd,
    stop_process,
    wait_until,
)
from tiny_models import make_tiny_models

from sketchify.backend.app import create_app
from sketchify.backend.executors.celery_executor import CeleryExecutor


def run_batch(base: str, count: int, steps: int) -> tuple[float, Counter[str], float]:
    """Submit ``count`` jobs at once; the seconds until the last one is done, how many jobs
    each worker ran, and the mean seconds one job ran on its worker (the per-job speed: if it
    grows with more workers, they are fighting over CPU cores)."""
    fields = {"strokes": "4", "preset": "draft", "steps": str(steps), "seeds": "1"}
    start = time.perf_counter()
    ids = []
    for _ in range(count):
        reply = requests.post(f"{base}/v1/sketches", data=fields, timeout=30,
                              files={"image": ("photo.png", image_bytes(), "image/png")})
        reply.raise_for_status()
        ids.append(reply.json()["id"])

    def all_done() -> bool:
        states = [requests.get(f"{base}/v1/sketches/{i}", timeout=30).json()["status"]
                  for i in ids]
        if "failed" in states or "canceled" in states:
            raise RuntimeError(f"a benchmark job did not finish: {states}")
        return all(s == "done" for s in states)

    wait_until(all_done, 1800, f"{count} jobs", every_s=0.05)
    seconds = time.perf_counter() - start
    jobs = [requests.get(f"{base}/v1/sketches/{i}", timeout=30).json() for i in ids]
    runs = [datetime.fromisoformat(j["finished_at"]) - datetime.fromisoformat(j["started_at"])
            for j in jobs]
    return (seconds, Counter(j["worker"] for j in jobs),
            statistics.mean(r.total_seconds() for r in runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=12)
    # Real jobs run hundreds of steps; with very short ones the fixed per-job cost (hand-over,
    # saliency, results) and the API front sharing the cores hide the scaling.
    parser.add_argument("--steps", type=int, default=120)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        flags = model_flags(make_tiny_models(root / "models"))
        redis = RedisServer(root, password="bench")
        redis.start()
        app = create_app({"DATA_DIR": root / "data", "EXECUTOR_FACTORY":
                          lambda store: CeleryExecutor(store, redis.url)})
        http = waitress.create_server(app, host=HOST, port=free_port(), threads=8)
        threading.Thread(target=http.run, daemon=True).start()
        base = f"http://{HOST}:{http.effective_port}"
        workers: list[subprocess.Popen] = []
        try:
            rates = []
            for n in (1, 2):
                while len(workers) < n:
                    workers.append(subprocess.Popen(
                        sketchify_cmd("worker", "--broker", redis.url, "--device", "cpu",
                                      "--threads", "1", "--name", f"bench{len(workers) + 1}",
                                      *flags),
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                        env=single_thread_env()))
                run_batch(base, n, args.steps)  # warm-up: every worker loaded and has run once
                seconds, shares, per_job = run_batch(base, args.jobs, args.steps)
                rates.append(args.jobs / seconds)
                print(f"{n} worker(s): {args.jobs} jobs of {args.steps} steps in {seconds:.1f} s"
                      f" = {rates[-1]:.3f} jobs/s; jobs per worker {dict(shares)}; one job "
                      f"runs {per_job:.2f} s; load average {os.getloadavg()[0]:.1f}")
            print(f"scale-out ratio (2 workers / 1 worker): {rates[1] / rates[0]:.2f}x "
                  f"(target >= 1.6x; this machine has {os.cpu_count()} cores)")
        finally:
            for proc in workers:
                stop_process(proc)
            http.close()
            app.extensions["sketchify"].close()
            redis.stop()


if __name__ == "__main__":
    main()

"""A soak of a real `sketchify serve` (tiny random-weight models, CPU, 127.0.0.1 only): for a
bounded time and number of jobs, concurrent submitters, pollers, cancelers and preview readers
work against it; then it checks and prints

- every accepted job reached a final state (done, canceled, failed) exactly once: one outcome
  line in the server's log, and no poller ever saw a finished job change again;
- every done job's SVGs parse (sketchify.core.output.svg.parse_svg) with the right number of paths;
- the server's memory (VmRSS) and open files (/proc/<pid>/fd) did not grow without bound:
  the least-squares trend over the second half, against a limit;
- status calls (GET /v1/sketches/<id>) stayed fast: p99 under 50 ms.

    python benchmarks/soak.py [--seconds 600] [--max-jobs 5000] [--submitters 2] ...

Exit code: 0 all checks passed; 1 a correctness check failed; 3 correct, but a measured
figure (status p99, memory or open-file growth) is over its limit.

The strokes in its SVGs come from random-weight models: they test the plumbing, never quality.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))
from backend_helpers import TOKEN, Server, png_bytes, sketcher_args  # noqa: E402
from tiny_models import make_tiny_models  # noqa: E402

from sketchify.core.output.svg import parse_svg  # noqa: E402

FINAL = ("done", "canceled", "failed")
P99_LIMIT_MS = 50.0
# Growth allowed over the second half, from its least-squares trend: RSS moves with what the
# allocator keeps between jobs of different sizes, so a few MB of drift is not a leak; a
# leak of one fd or a few KB per job over hundreds of jobs is well past these.
RSS_GROWTH_LIMIT_MB = 16.0
FD_GROWTH_LIMIT = 4.0


@dataclass
class Soak:
    url: str
    deadline: float
    max_jobs: int
    queue_cap: int
    reserved: int = 0  # submissions made or under way, held to max_jobs
    lock: threading.Lock = field(default_factory=threading.Lock)
    accepted: dict[str, list[int]] = field(default_factory=dict)  # id -> stroke counts
    seen: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    ended: dict[str, tuple[str, float]] = field(default_factory=dict)  # first final seen, when
    status_ms: list[float] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def running(self) -> bool:
        return time.monotonic() < self.deadline and not self.stop.is_set()

    def ids(self) -> list[str]:
        with self.lock:
            return list(self.accepted)

    def note(self, problem: str) -> None:
        with self.lock:
            self.problems.append(problem)
            self.counts["problems"] += 1

    def observe(self, job: dict, asked: float) -> None:
        """A finished job must stay as it finished: an answer to a request sent after a final
        state was seen (``asked``: time.monotonic() before sending) must say the same. Answers
        to requests already in flight then may be older news."""
        now = time.monotonic()
        with self.lock:
            history = self.seen[job["id"]]
            ended = self.ended.get(job["id"])
            if ended is not None and asked > ended[1] and job["status"] != ended[0]:
                self.problems.append(f"job {job['id']} went from {ended[0]} to "
                                     f"{job['status']}")
            if job["status"] in FINAL and ended is None:
                self.ended[job["id"]] = (job["status"], now)
            if not history or history[-1] != job["status"]:
                history.append(job["status"])


def session() -> requests.Session:
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {TOKEN}"
    return http


def submitter(soak: Soak, rng: random.Random) -> None:
    http = session()
    pictures = [png_bytes(64, 48), png_bytes(120, 90), png_bytes(40, 80)]
    while soak.running():
        with soak.lock:
            if soak.reserved >= soak.max_jobs:
                return
            pending = len(soak.accepted) - len(soak.ended)
            if pending < soak.queue_cap:  # a short queue: the soak is about time, not backlog
                soak.reserved += 1  # a slot of max_jobs, whichever submitter asks
        if pending >= soak.queue_cap:
            time.sleep(0.2)
            continue
        strokes = sorted(rng.sample([2, 3, 4, 6, 8], rng.randint(1, 3)))
        data = {"strokes": ",".join(map(str, strokes)), "steps": str(rng.randint(2, 25)),
                "preset": "draft", "seeds": "1"}
        asked = time.monotonic()
        response = http.post(f"{soak.url}/v1/sketches", data=data, timeout=30,
                             files={"image": ("soak.png", rng.choice(pictures))})
        if response.status_code != 202:
            soak.note(f"submission answered {response.status_code}: {response.text[:200]}")
            with soak.lock:
                soak.reserved -= 1
            continue
        job = response.json()
        with soak.lock:
            soak.accepted[job["id"]] = strokes
            soak.counts["accepted"] += 1
        soak.observe(job, asked)


def poller(soak: Soak, rng: random.Random) -> None:
    http = session()
    while soak.running():
        ids = soak.ids()
        if not ids:
            time.sleep(0.05)
            continue
        job_id = rng.choice(ids[-20:] if rng.random() < 0.8 else ids)  # mostly recent ones
        asked, started = time.monotonic(), time.perf_counter()
        response = http.get(f"{soak.url}/v1/sketches/{job_id}", timeout=30)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            soak.note(f"status of {job_id} answered {response.status_code}")
            continue
        with soak.lock:
            soak.status_ms.append(elapsed)
        soak.observe(response.json(), asked)
        if rng.random() < 0.05:
            listed = http.get(f"{soak.url}/v1/sketches", params={"limit": 20}, timeout=30)
            if listed.status_code != 200:
                soak.note(f"the list answered {listed.status_code}")
        time.sleep(0.02)


def canceler(soak: Soak, rng: random.Random) -> None:
    http = session()
    while soak.running():
        time.sleep(rng.uniform(1.0, 4.0))
        ids = soak.ids()[-10:]
        if not ids:
            continue
        job_id = rng.choice(ids)
        asked = time.monotonic()
        response = http.delete(f"{soak.url}/v1/sketches/{job_id}", timeout=30)
        if response.status_code in (200, 202):
            soak.observe(response.json(), asked)
            with soak.lock:
                soak.counts[f"cancel {response.status_code}"] += 1
        elif response.status_code == 409:
            with soak.lock:
                soak.counts["cancel 409 (already finished)"] += 1
        else:
            soak.note(f"cancel of {job_id} answered {response.status_code}")


def preview_reader(soak: Soak, rng: random.Random) -> None:
    http = session()
    while soak.running():
        time.sleep(0.1)
        ids = soak.ids()[-5:]
        if not ids:
            continue
        job_id = rng.choice(ids)
        job = http.get(f"{soak.url}/v1/sketches/{job_id}", timeout=30).json()
        links = job["links"].get("preview") or job["links"].get("svg") or {}
        for count, link in links.items():
            response = http.get(soak.url + link, timeout=30)
            if response.status_code == 200:
                paths = len(parse_svg(response.content)[0].points)
                if paths != int(count):
                    soak.note(f"{link}: {paths} paths, not {count}")
                with soak.lock:
                    soak.counts["previews read"] += 1
            elif response.status_code != 409:  # 409: it finished or moved on meanwhile
                soak.note(f"{link} answered {response.status_code}")
        if job["status"] == "done" and rng.random() < 0.3:
            download = http.get(f"{soak.url}/v1/sketches/{job_id}/zip", timeout=30)
            if download.status_code != 200 or not download.content.startswith(b"PK"):
                soak.note(f"zip of {job_id} answered {download.status_code}")


def sampler(soak: Soak, pid: int, every: float, samples: list[tuple[float, float, int]]) -> None:
    start = time.monotonic()
    while True:
        status = Path(f"/proc/{pid}/status").read_text()
        rss_kb = int(re.search(r"VmRSS:\s+(\d+) kB", status)[1])
        fds = len(list(Path(f"/proc/{pid}/fd").iterdir()))
        samples.append((time.monotonic() - start, rss_kb / 1024, fds))
        if not soak.running():
            return
        soak.stop.wait(every)


def trend(points: list[tuple[float, float]]) -> float:
    """Least-squares slope (units per second)."""
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / spread if spread else 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def wait_final(soak: Soak, timeout: float) -> dict[str, dict]:
    """Each accepted job's last state once all are finished (or the timeout passed)."""
    http = session()
    deadline = time.monotonic() + timeout
    jobs: dict[str, dict] = {}
    while True:
        for job_id in soak.ids():
            if jobs.get(job_id, {}).get("status") not in FINAL:
                asked = time.monotonic()
                jobs[job_id] = http.get(f"{soak.url}/v1/sketches/{job_id}", timeout=30).json()
                soak.observe(jobs[job_id], asked)
        if all(job["status"] in FINAL for job in jobs.values()) or time.monotonic() > deadline:
            return jobs
        time.sleep(0.5)


def check_done(soak: Soak, jobs: dict[str, dict]) -> int:
    """Parse every SVG of every done job; returns how many were read."""
    http = session()
    read = 0
    for job_id, job in jobs.items():
        if job["status"] != "done":
            continue
        for count in soak.accepted[job_id]:
            response = http.get(f"{soak.url}/v1/sketches/{job_id}/svg",
                                params={"strokes": count}, timeout=30)
            if response.status_code != 200:
                soak.note(f"done job {job_id}: svg {count} answered {response.status_code}")
                continue
            paths = len(parse_svg(response.content)[0].points)
            if paths != count:
                soak.note(f"done job {job_id}: {paths} paths in its {count}-stroke SVG")
            read += 1
    return read


def endings(log: Path) -> Counter:
    """How many outcome lines (done / canceled / failed) the server logged per job."""
    pattern = re.compile(r"job ([0-9a-f]{32}) (done|canceled|failed)\b")
    return Counter(m[1] for m in pattern.finditer(log.read_text(errors="replace")))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--max-jobs", type=int, default=5000)
    parser.add_argument("--submitters", type=int, default=2)
    parser.add_argument("--pollers", type=int, default=4)
    parser.add_argument("--cancelers", type=int, default=1)
    parser.add_argument("--previewers", type=int, default=2)
    parser.add_argument("--queue", type=int, default=4, help="unfinished jobs kept at most")
    parser.add_argument("--sample-every", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sketchify-soak-") as tmp:
        work = Path(tmp)
        server = Server(work / "data", sketcher_args(make_tiny_models(work / "models")),
                        "--threads", "16")
        try:
            return soak_server(server, args)
        finally:
            server.stop()


def soak_server(server: Server, args: argparse.Namespace) -> int:
    soak = Soak(server.url, time.monotonic() + args.seconds, args.max_jobs, args.queue)
    samples: list[tuple[float, float, int]] = []
    roles = ([submitter] * args.submitters + [poller] * args.pollers
             + [canceler] * args.cancelers + [preview_reader] * args.previewers)
    threads = [threading.Thread(target=role, args=(soak, random.Random(args.seed + i)),
                                daemon=True) for i, role in enumerate(roles)]
    threads.append(threading.Thread(target=sampler, daemon=True,
                                    args=(soak, server.proc.pid, args.sample_every, samples)))
    print(f"soaking {server.url} for {args.seconds:g} s (at most {args.max_jobs} jobs): "
          f"{args.submitters} submitters, {args.pollers} pollers, {args.cancelers} cancelers, "
          f"{args.previewers} preview readers", flush=True)
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    soaked = time.monotonic() - started
    jobs = wait_final(soak, timeout=300)
    svgs = check_done(soak, jobs)
    logged = endings(server.log)

    unfinished = [i for i, job in jobs.items() if job["status"] not in FINAL]
    wrong_endings = {i: logged[i] for i in soak.accepted if logged[i] != 1}
    states = Counter(job["status"] for job in jobs.values())
    half = [s for s in samples if s[0] >= samples[-1][0] / 2]
    rss_growth = trend([(t, rss) for t, rss, _ in half]) * (half[-1][0] - half[0][0])
    fd_growth = trend([(t, fds) for t, _, fds in half]) * (half[-1][0] - half[0][0])
    p50, p99 = percentile(soak.status_ms, 0.5), percentile(soak.status_ms, 0.99)

    print(f"ran {soaked / 60:.1f} min; accepted {len(soak.accepted)} jobs: "
          + ", ".join(f"{n} {s}" for s, n in sorted(states.items())))
    print("activity: " + ", ".join(f"{k} {v}" for k, v in sorted(soak.counts.items())))
    print(f"final states: {len(soak.accepted) - len(unfinished)}/{len(soak.accepted)} reached; "
          f"one outcome logged for each: {not wrong_endings}")
    print(f"done jobs' SVGs parsed with the right number of paths: {svgs}")
    print(f"status calls: n={len(soak.status_ms)} p50={p50:.1f} ms p99={p99:.1f} ms "
          f"max={max(soak.status_ms):.1f} ms (limit p99 < {P99_LIMIT_MS:g} ms)")
    print(f"server RSS: start {samples[0][1]:.0f} MB, half-way {half[0][1]:.0f} MB, end "
          f"{samples[-1][1]:.0f} MB, peak {max(s[1] for s in samples):.0f} MB; second-half "
          f"trend {rss_growth:+.1f} MB (limit {RSS_GROWTH_LIMIT_MB:g})")
    print(f"server open files: start {samples[0][2]}, half-way {half[0][2]}, end "
          f"{samples[-1][2]}, peak {max(s[2] for s in samples)}; second-half trend "
          f"{fd_growth:+.1f} (limit {FD_GROWTH_LIMIT:g})")

    # Correctness first (exit 1); the figures measured against limits after (exit 3), so a
    # short smoke run in the tests can hold the first without timing anything.
    failures = list(soak.problems)
    if unfinished:
        failures.append(f"{len(unfinished)} jobs never finished: {unfinished[:5]}")
    if wrong_endings:
        shown = list(wrong_endings.items())[:5]
        failures.append(f"jobs not ended exactly once (outcome lines logged): {shown}")
    if not states.get("done"):
        failures.append("no job finished done: the soak proved nothing about results")
    over = []
    if p99 >= P99_LIMIT_MS:
        over.append(f"status p99 {p99:.1f} ms is not under {P99_LIMIT_MS:g} ms")
    if rss_growth > RSS_GROWTH_LIMIT_MB:
        over.append(f"RSS grew {rss_growth:.1f} MB over the second half")
    if fd_growth > FD_GROWTH_LIMIT:
        over.append(f"open files grew {fd_growth:.1f} over the second half")
    for failure in failures[:20]:
        print(f"FAILED: {failure}")
    for failure in over:
        print(f"OVER LIMIT: {failure}")
    if failures:
        print(f"soak: {len(failures)} failures")
        return 1
    print("soak: all checks passed" if not over else f"soak: correct, {len(over)} figures over "
          "their limits")
    return 3 if over else 0


if __name__ == "__main__":
    sys.exit(main())

"""The Celery executor with real parts: redis-server (with a password) on a loopback port, two
`sketchify worker` processes on the CPU with tiny models, and a `sketchify serve --executor
celery` front on 127.0.0.1, all spoken to over real HTTP.

The tests share one cluster and run in file order: the worker killed in the SIGKILL test is
replaced before the Redis restart test.
"""

from __future__ import annotations

import base64
import errno
import io
import json
import os
import select
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
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
from lxml import etree
from PIL import Image, ImageDraw
from tiny_models import TinyModels

from sketchify.backend.executors import celery_app
from sketchify.backend.executors.celery_executor import CeleryExecutor
from sketchify.backend.executors.celery_jobs import JobRunner, RedisCancel
from sketchify.backend.storage.disk import RESULT_NOT_STORED
from sketchify.backend.storage.jobs import JobStore
from sketchify.core.output import files, provenance
from sketchify.core.paths import parse_path

pytest_plugins = ["backend_fixtures"]
# Far longer than the tests: a dead worker's job must come back through heartbeats, not the
# broker's redelivery.
VISIBILITY_TIMEOUT_S = 3600
HEARTBEAT_S, HEARTBEAT_TTL_S = 0.5, 2.0
JOB_TIMEOUT_S = 120
SHORT = {"strokes": "4", "preset": "draft", "steps": "25", "seeds": "1"}
LONG = {**SHORT, "steps": "2000"}  # stopped by cancel / outlived by the test; never finishes


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_server_with_password(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path, password="s3cret-Pa55")
    server.start()
    yield server
    server.stop()


@dataclass
class Cluster:
    redis: RedisServer
    base: str
    model_flags: list[str]
    logs: Path
    workers: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start_worker(self, name: str) -> None:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115  (closed with the process)
        self.workers[name] = subprocess.Popen(
            sketchify_cmd("worker", "--broker", self.redis.url, "--name", name, "--device",
                          "cpu", "--threads", "1", "--visibility-timeout",
                          str(VISIBILITY_TIMEOUT_S), "--heartbeat-s", str(HEARTBEAT_S),
                          "--heartbeat-ttl-s", str(HEARTBEAT_TTL_S), *self.model_flags),
            stdout=log, stderr=subprocess.STDOUT, env=single_thread_env())

    def submit(self, fields: dict[str, str] = SHORT) -> dict[str, Any]:
        reply = requests.post(f"{self.base}/v1/sketches", data=fields, timeout=10,
                              files={"image": ("photo.png", image_bytes(), "image/png")})
        assert reply.status_code == 202, reply.text
        return reply.json()

    def job(self, job_id: str) -> dict[str, Any]:
        reply = requests.get(f"{self.base}/v1/sketches/{job_id}", timeout=10)
        assert reply.status_code == 200, reply.text
        return reply.json()

    def wait_status(self, job_id: str, statuses: tuple[str, ...], timeout_s: float = JOB_TIMEOUT_S,
                    ) -> dict[str, Any]:
        return wait_until(lambda: (j := self.job(job_id))["status"] in statuses and j,
                          timeout_s, f"job {job_id} to become {statuses}", every_s=0.2)

    def wait_running(self, job_id: str) -> dict[str, Any]:
        """Running with visible progress (a step past 0)."""
        return wait_until(lambda: (j := self.job(job_id))["status"] == "running"
                          and j["progress"]["step"] > 0 and j, JOB_TIMEOUT_S,
                          f"job {job_id} to make progress", every_s=0.1)


def start_front(redis: RedisServer, data_dir: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """A real `sketchify serve --executor celery` on a free port; returns it and its base URL."""
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            sketchify_cmd("serve", "--executor", "celery", "--broker", redis.url, "--port", "0",
                          "--data-dir", str(data_dir), "--visibility-timeout",
                          str(VISIBILITY_TIMEOUT_S)),
            stdout=subprocess.PIPE, stderr=err, env=single_thread_env())
    ready, _, _ = select.select([proc.stdout], [], [], 90)
    line = proc.stdout.readline().decode() if ready else ""
    if "serving on" not in line:
        stop_process(proc)
        raise AssertionError(f"the API front did not start: {line!r} {log.read_text()[-2000:]}")
    return proc, line.split("serving on ")[1].split()[0]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, tiny_models: TinyModels,
            ) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("celery")
    server = RedisServer(root, password="team-s3cret")
    server.start()
    front, base = start_front(server, root / "data", root / "front.log")
    cluster = Cluster(server, base, model_flags(tiny_models), root)
    try:
        for name in ("w1", "w2"):
            cluster.start_worker(name)
        for name in ("w1", "w2"):  # both ready before any job: each must get a fair share
            wait_until(lambda n=name: b" ready" in (root / f"{n}.log").read_bytes(), 120,
                       f"worker {name} to be ready", every_s=0.2)
        yield cluster
    finally:
        for proc in [*cluster.workers.values(), front]:
            stop_process(proc)
        front.stdout.close()
        server.stop()


def svg_paths(svg_text: str) -> int:
    return len(etree.fromstring(svg_text.encode()).findall("{http://www.w3.org/2000/svg}path"))


def test_ten_jobs_are_shared_by_both_workers_and_show_progress(cluster: Cluster) -> None:
    ids = [cluster.submit()["id"] for _ in range(10)]
    progress_seen: dict[str, dict[str, Any]] = {}

    def all_done() -> bool:
        states = {}
        for job_id in ids:
            job = cluster.job(job_id)
            states[job_id] = job["status"]
            if job["status"] == "running" and job["progress"]["step"] > 0:
                progress_seen[job_id] = job["progress"]
        assert "failed" not in states.values(), [cluster.job(i)["error"] for i in ids]
        return all(s == "done" for s in states.values())

    wait_until(all_done, 3 * JOB_TIMEOUT_S, "ten jobs to finish", every_s=0.1)
    jobs = [cluster.job(job_id) for job_id in ids]
    assert {job["worker"] for job in jobs} == {"w1", "w2"}
    assert progress_seen, "no job was ever seen running with progress"
    for seen in progress_seen.values():
        assert seen["total"] == 25 and 0 < seen["fraction"] <= 1 and seen["eta_s"] is not None
    # Each worker's step cost reaches the front through its heartbeat; jobs say where they ran.
    costs = requests.get(f"{cluster.base}/v1/health", timeout=10).json()["step_cost"]
    assert set(costs) == {"cpu@w1", "cpu@w2"} and all(c > 0 for c in costs.values())
    assert {(job["device"], job["resolved_preset"]) for job in jobs} == {("cpu", "draft")}
    assert all(job["estimate_s"] is None for job in jobs)  # finished
    for job in jobs:
        reply = requests.get(cluster.base + job["links"]["svg"]["4"], timeout=10)
        assert reply.status_code == 200
        assert reply.headers["Content-Type"].startswith("image/svg+xml")
        assert svg_paths(reply.text) == 4
        assert job["attempts"] == 1 and job["progress"]["step"] == job["progress"]["total"]


def test_a_worker_times_a_precision_the_first_time_a_job_asks_for_it(cluster: Cluster) -> None:
    # auto is fp32 on a CPU. One step leaves no timing of the job's own, so an fp16 cost can
    # only come from the worker timing fp16 before it ran the job.
    reply = requests.post(f"{cluster.base}/v1/sketches", timeout=10,
                          data={**SHORT, "steps": "1", "precision": "fp16"},
                          files={"image": ("photo.png", image_bytes(), "image/png")})
    assert reply.status_code == 202, reply.text
    job = cluster.wait_status(reply.json()["id"], ("done", "failed"))
    assert job["status"] == "done", job["error"]
    label = f"cpu@{job['worker']}"

    def measured() -> dict[str, float] | None:
        health = requests.get(f"{cluster.base}/v1/health", timeout=10).json()
        costs = health["step_cost_by_precision"].get(label, {})
        return costs if "fp16" in costs else None

    costs = wait_until(measured, 10 * HEARTBEAT_TTL_S, "the fp16 step cost in a heartbeat")
    assert costs["fp16"] > 0 and costs["fp32"] > 0


def test_a_mask_image_travels_to_the_worker(cluster: Cluster) -> None:
    mask = Image.new("L", (64, 48), 0)
    ImageDraw.Draw(mask).ellipse((16, 12, 48, 36), fill=255)
    out = io.BytesIO()
    mask.save(out, format="PNG")
    reply = requests.post(f"{cluster.base}/v1/sketches", data={**SHORT, "steps": "2"}, timeout=10,
                          files={"image": ("photo.png", image_bytes(), "image/png"),
                                 "mask_image": ("mask.png", out.getvalue(), "image/png")})
    assert reply.status_code == 202, reply.text
    # A worker without the mask image would fail the job ("mask 'file' needs a mask image").
    job = cluster.wait_status(reply.json()["id"], ("done", "failed"))
    assert job["status"] == "done", job["error"]
    svg = requests.get(cluster.base + job["links"]["svg"]["4"], timeout=10)
    assert provenance.read(svg.content)["mask"] == "file"


def test_a_start_job_runs_on_a_worker(cluster: Cluster) -> None:
    start = [{"d": "M 4 6 L 50 40", "locked": True}, {"d": "M 10 30 A 10 6 0 0 1 40 30"}]
    reply = requests.post(f"{cluster.base}/v1/sketches", timeout=10,
                          data={**SHORT, "steps": "2", "start": json.dumps(start)},
                          files={"image": ("photo.png", image_bytes(), "image/png")})
    assert reply.status_code == 202, reply.text
    job = cluster.wait_status(reply.json()["id"], ("done", "failed"))
    assert job["status"] == "done", job["error"]
    assert job["params"]["start"]["given"] == 2 and job["params"]["start"]["locked"] == 1
    svg = requests.get(cluster.base + job["links"]["svg"]["4"], timeout=10)
    paths = etree.fromstring(svg.content).findall("{http://www.w3.org/2000/svg}path")
    assert len(paths) == 4 and parse_path(paths[0].get("d")) == parse_path(start[0]["d"])
    assert provenance.read(svg.content)["start"] == job["params"]["start"]


def test_cancel_reaches_the_worker_process(cluster: Cluster) -> None:
    job_id = cluster.submit(LONG)["id"]
    running = cluster.wait_running(job_id)
    assert running["estimate_s"] > 0  # from its worker's measured step cost
    preview = requests.get(f"{cluster.base}/v1/sketches/{job_id}/svg",
                           params={"strokes": 4, "preview": 1}, timeout=10)
    assert preview.status_code == 200 and svg_paths(preview.text) == 4
    reply = requests.delete(f"{cluster.base}/v1/sketches/{job_id}", timeout=10)
    assert reply.status_code == 202 and reply.json()["cancel_requested"]
    t0 = time.monotonic()
    job = cluster.wait_status(job_id, ("canceled", "done", "failed"), timeout_s=30)
    assert job["status"] == "canceled", job
    assert job["progress"]["step"] < 2000 and time.monotonic() - t0 < 20
    # The worker that had it is free again and takes the next job.
    after = cluster.wait_status(cluster.submit()["id"], ("done", "failed"))
    assert after["status"] == "done" and running["worker"] in ("w1", "w2")


def test_a_killed_worker_s_job_finishes_on_the_other_once(cluster: Cluster) -> None:
    ids = [cluster.submit()["id"] for _ in range(3)]
    victim_job = cluster.submit(LONG | {"steps": "80"})["id"]
    victim = cluster.wait_running(victim_job)["worker"]  # the worker that holds this job
    # Its heartbeat names the job (within a heartbeat and a look of the front's).
    wait_until(lambda: {"name": victim, "device": "cpu", "job": victim_job} in requests.get(
        f"{cluster.base}/v1/health", timeout=10).json()["workers"], 10, "the heartbeat")
    cluster.workers[victim].kill()  # SIGKILL: no chance to give the job back
    cluster.workers[victim].wait(10)
    killed_at = time.monotonic()
    survivor = "w2" if victim == "w1" else "w1"
    # Its heartbeat expires after HEARTBEAT_TTL_S; the front then puts the job back in the
    # queue (the broker alone would wait VISIBILITY_TIMEOUT_S, an hour).
    wait_until(lambda: cluster.job(victim_job)["status"] != "running"
               or cluster.job(victim_job)["worker"] == survivor, 30, "the job to be handed on",
               every_s=0.1)
    handed_after_s = time.monotonic() - killed_at
    assert handed_after_s < HEARTBEAT_TTL_S + 10, handed_after_s
    for job_id in [*ids, victim_job]:
        job = cluster.wait_status(job_id, ("done", "failed"), timeout_s=2 * JOB_TIMEOUT_S)
        assert job["status"] == "done", job
    redone = cluster.job(victim_job)
    assert redone["worker"] == survivor and redone["attempts"] == 2
    assert {cluster.job(i)["worker"] for i in ids} <= {victim, survivor}
    beats = requests.get(f"{cluster.base}/v1/health", timeout=10).json()["workers"]
    assert [w["name"] for w in beats] == [survivor]

    # A late second outcome for a finished job (say, a worker that only seemed dead) changes
    # nothing: the first result stays.
    svg_url = cluster.base + redone["links"]["svg"]["4"]
    first = requests.get(svg_url, timeout=10).text
    ghost = {"worker": "ghost", "svgs": {"4": "<svg/>"}, "steps": 1}
    cluster.redis.client().xadd(celery_app.EVENTS,
                                {"job": victim_job, "type": "done", "data": json.dumps(ghost)})
    wait_until(lambda: cluster.redis.client().xlen(celery_app.EVENTS) == 0, 10, "event consumed")
    again = cluster.job(victim_job)
    assert requests.get(svg_url, timeout=10).text == first
    assert again["finished_at"] == redone["finished_at"] and again["worker"] == survivor
    cluster.start_worker(victim)  # back to two workers for the next test


def test_a_stopped_worker_gives_its_job_back_at_once(cluster: Cluster) -> None:
    job_id = cluster.submit(LONG | {"steps": "80"})["id"]
    leaver = cluster.wait_running(job_id)["worker"]
    cluster.workers[leaver].terminate()  # SIGTERM: a clean stop
    assert cluster.workers[leaver].wait(30) == 0
    job = cluster.wait_status(job_id, ("done", "failed"), timeout_s=2 * JOB_TIMEOUT_S)
    assert job["status"] == "done" and job["worker"] != leaver
    assert job["attempts"] == 1  # an interrupted run that was handed back does not count
    cluster.start_worker(leaver)


def test_redis_restart_keeps_the_api_up_and_queued_jobs_run(cluster: Cluster) -> None:
    busy = [cluster.submit(LONG | {"steps": "60"})["id"] for _ in range(2)]
    queued = [cluster.submit()["id"] for _ in range(3)]
    cluster.redis.stop()  # no persistence: the queue on the broker is gone with it

    def refused() -> dict[str, Any] | None:
        reply = requests.post(f"{cluster.base}/v1/sketches", data=SHORT, timeout=10,
                              files={"image": ("photo.png", image_bytes(), "image/png")})
        return reply.json() if reply.status_code == 503 else None

    error = wait_until(refused, 20, "a 503 while Redis is down")
    assert error["field"] is None and "unreachable" in error["error"]
    for job_id in busy + queued:  # what the API knows is still served
        assert cluster.job(job_id)["status"] in ("queued", "running", "done")
    health = requests.get(f"{cluster.base}/v1/health", timeout=10).json()
    assert health["broker_reachable"] is False

    cluster.redis.start()
    late = wait_until(lambda: requests.post(
        f"{cluster.base}/v1/sketches", data=SHORT, timeout=10,
        files={"image": ("photo.png", image_bytes(), "image/png")}).status_code == 202, 30,
        "the API to accept work again")
    assert late
    for job_id in busy + queued:
        job = cluster.wait_status(job_id, ("done", "failed"), timeout_s=2 * JOB_TIMEOUT_S)
        assert job["status"] == "done", job


def test_worker_start_up_errors_are_one_clear_line(redis_server_with_password: RedisServer,
                                                   ) -> None:
    cases = {
        f"redis://{HOST}:{free_port()}/0": "cannot reach the Redis broker",
        f"redis://:wrong@{HOST}:{redis_server_with_password.port}/0": "refused the password",
        "http://example.invalid/": "must start with redis://",
    }
    commands = {("worker", url): words for url, words in cases.items()}
    commands[("serve", f"redis://{HOST}:{free_port()}/0")] = "cannot reach the Redis broker"
    runs = {}
    for command, url in commands:  # in parallel: each one imports the engine
        if command == "serve":  # the URL from the environment (keeps the password out of ps)
            argv, env = ["--executor", "celery"], {**os.environ, "SKETCHIFY_BROKER": url}
        else:
            argv, env = ["--broker", url], None
        runs[command, url] = subprocess.Popen(sketchify_cmd(command, *argv), env=env, text=True,
                                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for key, words in commands.items():
        _, stderr = runs[key].communicate(timeout=90)
        assert runs[key].returncode == 2, stderr
        assert words in stderr and len(stderr.strip().splitlines()) == 1, stderr
        assert stderr.startswith(f"sketchify {key[0]}: error: ")
        assert "wrong" not in stderr  # the password is never echoed


def test_worker_with_a_missing_mask_model_stops_with_one_line(redis_server: RedisServer,
                                                              tmp_path: Path) -> None:
    absent = tmp_path / "u2net.onnx"
    done = subprocess.run(sketchify_cmd("worker", "--broker", redis_server.url, "--device", "cpu",
                                        "--mask-model", str(absent)),
                          capture_output=True, text=True, timeout=90)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == f"sketchify: error: Mask model file not found: {absent}."


def test_a_heartbeat_ttl_shorter_than_the_beat_is_refused(redis_server: RedisServer) -> None:
    result = subprocess.run(sketchify_cmd("worker", "--broker", redis_server.url,
                                          "--heartbeat-s", "5", "--heartbeat-ttl-s", "2"),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("sketchify worker: error: --heartbeat-ttl-s must be longer")
    assert len(result.stderr.strip().splitlines()) == 1


def test_worker_connects_without_password_and_stops_cleanly(
        redis_server: RedisServer, tiny_models: TinyModels, tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(sketchify_cmd("worker", "--broker", redis_server.url, "--name",
                                              "solo", "--device", "cpu",
                                              *model_flags(tiny_models)),
                                stdout=out, stderr=subprocess.STDOUT, env=single_thread_env())
    try:
        wait_until(lambda: b"ready" in log.read_bytes(), 60, "the worker to be ready")
    finally:
        stop_process(proc)
    assert proc.returncode == 0, log.read_text()


def test_cancel_token_asks_redis_at_most_every_poll(redis_server: RedisServer) -> None:
    client = redis_server.client()
    token = RedisCancel(client, "job1", threading.Event(), poll_s=0.2)
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:  # the optimizer asks every step: here, thousands
        assert not token.is_set()
    asked = client.info("commandstats")["cmdstat_exists"]["calls"]
    assert 2 <= asked <= 4
    client.set(celery_app.cancel_key("job1"), "1")
    wait_until(token.is_set, 2, "the cancel flag to be seen")
    stopping = threading.Event()
    other = RedisCancel(client, "job2", stopping)
    stopping.set()  # the worker shutting down stops the job too, without a cancel request
    assert other.is_set() and not other.requested


def test_broker_password_is_never_shown() -> None:
    assert celery_app.redact("redis://:hunter2@10.0.0.5:6379/0") == "redis://:***@10.0.0.5:6379/0"
    assert celery_app.redact("redis://ops:hunter2@h/1") == "redis://ops:***@h/1"
    assert celery_app.redact("redis://h:6379/0") == "redis://h:6379/0"


def test_collector_drops_malformed_events_and_retries_ones_it_could_not_store(
        redis_server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = JobStore(tmp_path / "data")
    job, _ = store.add({"strokes": [4]}, b"image")
    full, _ = store.add({"strokes": [4]}, b"image")
    real_finish, failed = store.finish, []

    def finish_after_a_busy_database(job_id: str, *args: Any) -> None:
        if job_id == full.id:  # a real ENOSPC under the result file
            monkeypatch.setattr(files, "open", _no_space, raising=False)
            try:
                return real_finish(job_id, *args)
            finally:
                monkeypatch.delattr(files, "open")
        if not failed:
            failed.append(args)
            raise sqlite3.OperationalError("database is locked")
        real_finish(job_id, *args)

    monkeypatch.setattr(store, "finish", finish_after_a_busy_database)
    client = redis_server.client()
    for job_id, kind, data in [
            (job.id, "started", "not json"), (job.id, "started", {"attempt": 1, "worker": "w1"}),
            (job.id, "done", {"svgs": {"4": "<svg/>"}, "steps": 3}),
            (full.id, "started", {"attempt": 1, "worker": "w2"}),
            (full.id, "done", {"svgs": {"4": "<svg/>"}, "steps": 3})]:
        text = data if isinstance(data, str) else json.dumps(data)
        client.xadd(celery_app.EVENTS, {"job": job_id, "type": kind, "data": text})
    executor = CeleryExecutor(store, redis_server.url, block_ms=50)
    executor.start()
    try:
        wait_until(lambda: store.get(job.id).status == "done", 15, "the job to be done")
        wait_until(lambda: store.get(full.id).status == "failed", 15, "the other to fail")
    finally:
        executor.stop(10)
    assert failed, "the first attempt to store the result should have failed"
    assert store.get(job.id).worker == "w1"
    # A result that does not fit on the front's disk fails its job, leaving no file behind.
    assert store.get(full.id).error == RESULT_NOT_STORED
    assert sorted(p.name for p in store.job_dir(full.id).iterdir()) == ["input"]
    assert client.xlen(celery_app.EVENTS) == 0  # every event acknowledged and removed


def test_a_job_given_back_by_a_worker_it_no_longer_runs_on_keeps_running(
        redis_server: RedisServer, tmp_path: Path) -> None:
    """w1 was taken for dead and its job handed to w2; w1's late `requeued` (at its SIGTERM)
    must not put w2's running job back in the queue. w2's own does."""
    store = JobStore(tmp_path / "data")
    job, _ = store.add({"strokes": [4]}, b"image")
    client = redis_server.client()

    def event(kind: str, **data: Any) -> None:
        client.xadd(celery_app.EVENTS, {"job": job.id, "type": kind, "data": json.dumps(data)})

    event("started", attempt=1, worker="w1")
    event("started", attempt=2, worker="w2")
    event("requeued", worker="w1")
    executor = CeleryExecutor(store, redis_server.url, block_ms=50)
    executor.start()
    try:
        wait_until(lambda: client.xlen(celery_app.EVENTS) == 0, 15, "the events to be read")
        assert (store.get(job.id).status, store.get(job.id).worker) == ("running", "w2")
        event("requeued", worker="w2")
        wait_until(lambda: store.get(job.id).status == "queued", 15, "w2's job to be back")
    finally:
        executor.stop(10)


def _no_space(*args: Any, **kwargs: Any) -> Any:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _events(client: Any, job_id: str) -> list[dict[str, Any]]:
    return [{k.decode(): v.decode() for k, v in fields.items()}
            for _, fields in client.xrange(celery_app.EVENTS) if fields[b"job"] == job_id.encode()]


def test_worker_runs_0_1_0_tasks_refuses_newer_ones_and_drops_stale_copies(
        redis_server: RedisServer, tiny_sketcher: Any) -> None:
    client = redis_server.client()
    runner = JobRunner(tiny_sketcher, client, "w-test")
    # Exactly what release 0.1.0's front sent (backend/executors/celery_executor.py at 92a7c63): no
    # format, no dispatch id, params without `mask`.
    old = {"job": "a" * 32, "image": base64.b64encode(image_bytes()).decode(),
           "params": {"strokes": [4], "preset": "draft", "steps": 2, "seeds": 1, "seed": 1,
                      "prompt": None, "width": 3.0},
           "max_attempts": 3, "max_pixels": 16_000_000}
    runner.run(old)
    ran = _events(client, old["job"])
    assert ran[0]["type"] == "started" and ran[-1]["type"] == "done"
    assert {e["format"] for e in ran} == {str(celery_app.EVENT_FORMAT)}
    assert svg_paths(json.loads(ran[-1]["data"])["svgs"]["4"]) == 4

    newer = {**old, "job": "b" * 32, "format": celery_app.MESSAGE_FORMAT + 1}
    runner.run(newer)
    [refused] = _events(client, newer["job"])
    error = json.loads(refused["data"])["error"]
    assert refused["type"] == "failed"
    assert f"message format {celery_app.MESSAGE_FORMAT + 1}" in error
    assert "upgrade the worker w-test" in error

    # The broker redelivering a task the front has since handed over again (its worker was
    # taken for dead): dropped without running or counting an attempt.
    stale = {**old, "job": "c" * 32, "format": celery_app.MESSAGE_FORMAT, "dispatch": "first"}
    client.set(celery_app.dispatch_key(stale["job"]), "second")
    runner.run(stale)
    assert _events(client, stale["job"]) == []
    assert client.get(celery_app.attempts_key(stale["job"])) is None


def test_a_0_3_0_task_with_a_pen_now_refused_still_runs(redis_server: RedisServer,
                                                        tiny_sketcher: Any) -> None:
    """0.3.0's front took any positive pen and queued the job with it: the plot is made
    later from the stored job, so the worker runs the task as sent."""
    client = redis_server.client()
    for job, pen in (("f" * 32, 0.01), ("9" * 32, 10.0)):
        params = {"strokes": [4], "preset": "draft", "steps": 2, "seeds": 1, "seed": 1,
                  "prompt": None, "width": 3.0, "mask": "none", "precision": "auto",
                  "start": None, "plot": {"size_mm": 150.0, "pen_mm": pen, "margin_mm": 0.0}}
        task = {"job": job, "format": 2, "dispatch": "first", "max_attempts": 3,
                "image": base64.b64encode(image_bytes()).decode(), "params": params,
                "max_pixels": 16_000_000}
        client.set(celery_app.dispatch_key(job), "first")
        JobRunner(tiny_sketcher, client, "w-new").run(task)
        ran = _events(client, job)
        assert ran[-1]["type"] == "done", ran[-1]
        assert svg_paths(json.loads(ran[-1]["data"])["svgs"]["4"]) == 4


@pytest.mark.parametrize("asked", [{"precision": "fp32"},
                                   {"start": [{"d": "M 1 1 L 9 9", "locked": True}]}],
                         ids=["precision", "start"])
def test_a_format_2_worker_refuses_a_task_it_would_run_without_a_field(
        redis_server: RedisServer, tiny_sketcher: Any, monkeypatch: pytest.MonkeyPatch,
        asked: dict[str, Any]) -> None:
    params = {"strokes": [4], "preset": "draft", "steps": 2, "seeds": 1, "seed": 1,
              "prompt": None, "width": 3.0, "mask": "none"}
    assert celery_app.task_format({**params, "precision": "auto"}) == 2  # old workers run it
    assert celery_app.task_format({**params, "start": None}) == 2
    assert celery_app.task_format(params) == 2  # a job stored before the fields existed
    task = {"job": "e" * 32, "format": celery_app.task_format({**params, **asked}),
            "dispatch": "first", "image": base64.b64encode(image_bytes()).decode(),
            "params": {**params, **asked}, "max_attempts": 3,
            "max_pixels": 16_000_000}
    client = redis_server.client()
    client.set(celery_app.dispatch_key(task["job"]), "first")
    monkeypatch.setattr(celery_app, "MESSAGE_FORMAT", 2)  # what release 0.2.0 reads
    JobRunner(tiny_sketcher, client, "w-old").run(task)
    [refused] = _events(client, task["job"])
    assert refused["type"] == "failed"
    assert "message format 3" in json.loads(refused["data"])["error"]


def test_a_worker_stopping_after_its_job_was_handed_on_does_not_give_it_back(
        redis_server: RedisServer, tiny_sketcher: Any) -> None:
    """Taken for dead (say, a long pause), its job handed to another worker, then SIGTERM:
    a `requeued` event now would put the other worker's running job back in the queue."""
    client = redis_server.client()
    runner = JobRunner(tiny_sketcher, client, "w-paused")
    job = {"job": "d" * 32, "format": celery_app.MESSAGE_FORMAT, "dispatch": "first",
           "image": base64.b64encode(image_bytes()).decode(),
           "params": {"strokes": [4], "preset": "draft", "steps": 50, "seeds": 1, "seed": 1,
                      "prompt": None, "width": 3.0, "mask": "none"},
           "max_attempts": 3, "max_pixels": 16_000_000}
    client.set(celery_app.dispatch_key(job["job"]), "first")

    def handed_on_then_stopped(job_id: str, report: Any) -> None:
        client.set(celery_app.dispatch_key(job_id), "second")
        runner.stopping.set()

    runner._progress = handed_on_then_stopped
    runner.run(job)  # returns (the message is acknowledged) rather than rejecting it
    assert [e["type"] for e in _events(client, job["job"])] == ["started"]
    assert client.get(celery_app.attempts_key(job["job"])) == b"1"  # counted for the other worker


def test_collector_fails_a_job_reported_in_a_newer_format(
        redis_server: RedisServer, tmp_path: Path) -> None:
    store = JobStore(tmp_path / "data")
    job, _ = store.add({"strokes": [4]}, b"image")
    client = redis_server.client()
    client.xadd(celery_app.EVENTS, {"format": str(celery_app.MESSAGE_FORMAT + 1), "job": job.id,
                              "type": "done", "data": json.dumps({"whatever": 1})})
    executor = CeleryExecutor(store, redis_server.url, block_ms=50)
    executor.start()
    try:
        failed = wait_until(lambda: (j := store.get(job.id)).status == "failed" and j, 15,
                            "the job to fail")
    finally:
        executor.stop(10)
    assert f"message format {celery_app.MESSAGE_FORMAT + 1}" in failed.error
    assert "upgrade this front" in failed.error
    assert client.xlen(celery_app.EVENTS) == 0

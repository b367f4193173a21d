"""A real `sketchify serve` process on 127.0.0.1 with the tiny models on the CPU, over HTTP."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests
from api_contract.fuzzing import request_bytes, send_raw
from backend_helpers import (
    TOKEN,
    Server,
    example_image,
    png_bytes,
    sketchify_command,
    wait_for,
)
from flask import Flask
from lxml import etree

from sketchify.backend import http_server
from sketchify.backend.http_server import addresses, create_server

pytest_plugins = ["backend_fixtures"]
SVG_PATH = "{http://www.w3.org/2000/svg}path"


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_model_args) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("serve") / "data", tiny_model_args)
    yield running
    running.stop()


def svg_path_count(server: Server, link: str) -> int:
    response = server.http.get(server.url + link, timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("image/svg+xml")
    return len(etree.fromstring(response.content).findall(f".//{SVG_PATH}"))


def test_health_and_auth(server):
    health = server.http.get(f"{server.url}/v1/health", timeout=30).json()
    assert health["devices"] == ["cpu"] and health["models_loaded"] is True
    assert health["models"]["loss"]["name"] == "sketchify-tiny-rn.json"  # a name, not a path
    assert health["models"]["saliency"]["weights"] == "sketchify-tiny-vit.pt"
    assert "/" not in str(health["models"])
    anonymous = requests.get(f"{server.url}/v1/health", timeout=30)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    assert anonymous.json()["error"]
    foreign = server.http.get(f"{server.url}/v1/health", headers={"Origin": "https://x.example"},
                              timeout=30)
    assert foreign.status_code == 403


def test_body_over_the_limit_is_413_json_over_real_http(server):
    response = server.submit(image=b"\0" * (26 * 2**20))  # default limit: 25 MB
    assert response.status_code == 413
    assert response.json() == {"error": "The request body is larger than the 25 MB limit.",
                               "field": None}


def test_a_body_declared_over_the_limit_is_refused_before_it_is_sent(server):
    """Found by fuzzing: waitress read (and spooled to /tmp) any body up to its own 1 GB
    limit before the app's 25 MB limit applied, even without the token, and answered one
    over 1 GB in plain text. Now the headers alone get the JSON 413, nothing of the body read."""
    url = f"{server.url}/v1/sketches"
    headers = [("Content-Type", "application/json"), ("Content-Length", str(26 * 2**20))]
    answer = send_raw(url, request_bytes("POST", url, headers, b""), timeout=10)
    assert answer is not None and answer.status == 413
    assert json.loads(answer.body) == {"error": "The request body is larger than the 25 MB "
                                                "limit.", "field": None}
    garbage = send_raw(url, b"GET / HTTP/1.1\r\nno colon\r\n\r\n", timeout=10)  # HTTP server's
    assert garbage is not None and garbage.status == 400
    assert json.loads(garbage.body)["error"].startswith("The request is not valid HTTP (")


def test_a_client_still_sending_a_refused_body_gets_the_answer(server):
    """Refused at its headers, a large upload keeps arriving; closing at once would make the
    kernel reset the connection and the client would see that instead of the 413 (seen in CI
    as a ConnectionResetError). The server reads and drops the rest, then the client reads."""
    url = f"{server.url}/v1/sketches"
    headers = [("Authorization", f"Bearer {TOKEN}"), ("Content-Type", "application/json"),
               ("Content-Length", str(26 * 2**20))]
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(request_bytes("POST", url, headers, b""))
        time.sleep(0.5)  # the 413 is written and the server would close now
        for _ in range(8):
            sock.sendall(b"x" * 2**20)  # the body a client like requests goes on sending
        sock.shutdown(socket.SHUT_WR)
        response = http.client.HTTPResponse(sock)
        response.begin()
        assert response.status == 413
        assert json.loads(response.read())["error"] == ("The request body is larger than the "
                                                        "25 MB limit.")


def test_a_refused_client_that_goes_quiet_is_closed_after_the_linger(monkeypatch):
    monkeypatch.setattr(http_server, "LINGER_S", 0.3)
    server = create_server(Flask("quiet"), host="127.0.0.1", port=0, threads=1,
                           max_body_bytes=1000)
    threading.Thread(target=server.run, daemon=True).start()
    try:
        parts = urlsplit(addresses(server)[0])
        with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n")
            response = http.client.HTTPResponse(sock)
            response.begin()
            assert response.status == 413
            # Silent past the linger, it is closed (the loop looks at least once a second), not
            # left to waitress's two-minute idle sweep.
            wait_for(lambda: not server.active_channels, timeout=3)
    finally:
        server.close()


def test_a_name_with_two_addresses_gets_json_errors_on_both(monkeypatch):
    """A host name that resolves to two addresses (Debian's localhost: 127.0.0.1 and ::1)
    makes waitress listen on each; both answer the HTTP server's own errors as JSON."""
    real = socket.getaddrinfo

    def two_loopbacks(host, *args, **kwargs):
        if host != "sketchify-two.test":
            return real(host, *args, **kwargs)
        return [*real("127.0.0.1", *args, **kwargs), *real("127.0.0.2", *args, **kwargs)]

    monkeypatch.setattr(socket, "getaddrinfo", two_loopbacks)
    app = Flask("two")
    server = create_server(app, host="sketchify-two.test", port=0, threads=1,
                           max_body_bytes=1000)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        urls = addresses(server)
        assert [urlsplit(url).hostname for url in urls] == ["127.0.0.1", "127.0.0.2"]
        for url in urls:
            garbage = send_raw(url, b"GET / HTTP/1.1\r\nno colon\r\n\r\n", timeout=10)
            assert garbage is not None and garbage.status == 400
            assert json.loads(garbage.body)["error"].startswith("The request is not valid HTTP")
    finally:
        server.close()


def test_submit_poll_progress_and_fetch_each_svg(server):
    response = server.submit(image=example_image(), strokes="4,8,16", steps=12)
    assert response.status_code == 202
    job_id = response.json()["id"]
    assert response.headers["Location"].endswith(f"/v1/sketches/{job_id}")
    seen_steps = set()

    def done() -> dict | None:
        job = server.job(job_id)
        seen_steps.add(job["progress"]["step"])
        return job if job["status"] == "done" else None

    job = wait_for(done, timeout=90, every=0.02)
    assert job["progress"]["step"] == job["progress"]["total"] > 0
    assert job["progress"]["fraction"] == 1.0
    assert len(seen_steps) >= 2  # progress moved while we polled
    for count in (4, 8, 16):
        assert svg_path_count(server, job["links"]["svg"][str(count)]) == count
    missing = server.http.get(f"{server.url}/v1/sketches/{job_id}/svg?strokes=5", timeout=30)
    assert missing.status_code == 404 and missing.json()["field"] == "strokes"


def test_cancel_running_job(server):
    job_id = server.submit(strokes=8, steps=10000).json()["id"]
    job = wait_for(lambda: (j := server.job(job_id))["progress"]["step"] >= 1 and j, timeout=60)
    assert job["status"] == "running"
    assert svg_path_count(server, f"/v1/sketches/{job_id}/svg?strokes=8&preview=1") == 8
    response = server.http.delete(f"{server.url}/v1/sketches/{job_id}", timeout=30)
    assert response.status_code == 202
    job = server.finished(job_id, timeout=30)
    assert job["status"] == "canceled"
    assert job["progress"]["step"] < 10000


def test_twenty_concurrent_submissions_all_complete_in_order(server):
    ids: list[str] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        with requests.Session() as http:
            http.headers["Authorization"] = f"Bearer {TOKEN}"
            for _ in range(n):
                response = http.post(
                    f"{server.url}/v1/sketches",
                    files={"image": ("p.png", png_bytes())},
                    data={"strokes": "4", "steps": "1", "seeds": "1", "preset": "draft"},
                    timeout=30,
                )
                assert response.status_code == 202, response.text
                with lock:
                    ids.append(response.json()["id"])

    threads = [threading.Thread(target=client, args=(4,)) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ids) == 20 and len(set(ids)) == 20
    jobs = [server.finished(job_id) for job_id in ids]
    assert all(job["status"] == "done" for job in jobs)
    assert all(job["attempts"] == 1 for job in jobs)
    by_submission = sorted(jobs, key=lambda j: j["created_at"])
    assert [j["started_at"] for j in by_submission] == sorted(j["started_at"] for j in jobs)
    with sqlite3.connect(server.data_dir / "jobs.sqlite3") as db:
        stored = {row[0] for row in db.execute("SELECT id FROM jobs")}
    assert set(ids) <= stored


def test_sigkill_with_jobs_queued_and_running_loses_nothing(tmp_path, tiny_model_args):
    data_dir = tmp_path / "data"
    first = Server(data_dir, tiny_model_args)
    try:
        long_id = first.submit(strokes=4, steps=15).json()["id"]
        queued = [first.submit(strokes="4,8", steps=2).json()["id"] for _ in range(3)]
        wait_for(lambda: first.job(long_id)["progress"]["step"] >= 1, timeout=60)
        assert [first.job(i)["status"] for i in queued] == ["queued"] * 3
        os.kill(first.proc.pid, signal.SIGKILL)
        first.proc.wait(10)
    finally:
        first.stop()

    second = Server(data_dir, tiny_model_args)
    try:
        jobs = [second.finished(i) for i in [long_id, *queued]]
        assert [j["status"] for j in jobs] == ["done"] * 4
        assert jobs[0]["attempts"] == 2  # the interrupted run, then the rerun
        assert [j["attempts"] for j in jobs[1:]] == [1, 1, 1]
        starts = [j["started_at"] for j in jobs]
        assert starts == sorted(starts)  # the requeued job kept its place at the front
        for job in jobs[1:]:
            assert svg_path_count(second, job["links"]["svg"]["8"]) == 8
        with sqlite3.connect(data_dir / "jobs.sqlite3") as db:
            rows = sorted(row[0] for row in db.execute("SELECT id FROM jobs"))
        assert rows == sorted([long_id, *queued])
        assert second.stop() == 0  # SIGTERM: a clean exit
    finally:
        second.stop()


def test_public_address_without_token_refuses_to_start(tmp_path):
    result = subprocess.run(
        [*sketchify_command(), "serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "SKETCHIFY_TOKEN": ""},
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "token" in result.stderr


def test_hold_jobs_with_the_celery_executor_is_refused(tmp_path):
    # Its queue is the broker's: holding jobs there would refuse every submission instead.
    result = subprocess.run(
        [*sketchify_command(), "serve", "--hold-jobs", "--executor", "celery", "--broker",
         "redis://127.0.0.1:1/0", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "--hold-jobs" in result.stderr and not (tmp_path / "jobs.sqlite3").exists()


def test_missing_weights_is_one_line_and_exit_2(tmp_path, tiny_model_args):
    args = [*sketchify_command(), "serve", "--data-dir", str(tmp_path), "--device", "cpu",
            "--port", "0"]
    for name, value in tiny_model_args.items():
        value = str(tmp_path / "missing.pt") if name == "loss_weights" else value
        args += [f"--{name.replace('_', '-')}", value]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    # The error is one line, after the start-up's only progress line so far.
    loading, error = result.stderr.strip().splitlines()
    assert "sketchify.backend.serve: loading the models (" in loading
    assert error.startswith("sketchify: error: ") and "missing.pt" in error


def test_the_log_has_one_line_per_job_event_and_no_library_chatter(tmp_path, tiny_model_args):
    server = Server(tmp_path / "data", tiny_model_args)
    try:
        done = server.submit(strokes=4, steps=3).json()["id"]
        assert server.finished(done)["status"] == "done"
        long = server.submit(strokes=4, steps=10000).json()["id"]
        wait_for(lambda: server.job(long)["status"] == "running")
        queued = server.submit(strokes=4, steps=3).json()["id"]
        for job_id in (queued, long):
            assert server.http.delete(f"{server.url}/v1/sketches/{job_id}",
                                      timeout=30).status_code in (200, 202)
        assert server.finished(long)["status"] == "canceled"
        assert server.stop() == 0
    finally:
        server.stop()
    lines = server.log.read_text().splitlines()
    assert lines[-1].endswith("sketchify.backend.serve: stopped")
    text = "\n".join(lines)
    for expected in (f"job {done} received (picture.png): strokes 4, preset draft",
                     f"job {done} started on cpu (preset draft, attempt 1)",
                     f"job {done} done (", f"job {long} started on cpu",
                     f"job {long} canceled (", f"job {queued} canceled before it started"):
        assert expected in text, expected
    # Start-up says what takes the seconds before the first answer, and when it answers.
    starting = [next(i for i, line in enumerate(lines) if said in line) for said in (
        "sketchify.backend.serve: loading the models (", f"serve: ready at {server.url}")]
    assert starting == sorted(starting)
    assert "measuring the fp32 step cost on cpu (a few real steps" in text
    done_line = next(line for line in lines if f"job {done} done (" in line)
    assert done_line.endswith(", 3 steps)")  # the time taken, then the steps run
    # open_clip logs each model-loading step on the root logger, waitress its address. (Its
    # warnings stay: "Task queue depth" on a busy machine says something worth knowing.)
    assert " root: " not in text and "Parsing model" not in text
    assert not any("waitress" in line and "queue depth" not in line for line in lines)
    assert sum(f"job {done} " in line for line in lines) == 3  # received, started, done

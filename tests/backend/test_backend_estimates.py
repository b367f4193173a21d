"""Honest figures in the job JSON: where `auto` ran and on what, `estimate_s` from the step
cost measured on the device (queue wait included), `progress.eta_text`; the step cost in
/v1/health, refreshed from the jobs that ran. The real engine on tiny models."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from backend_helpers import ControlledSketcher, png_bytes, wait_for

from sketchify.backend.app import create_app
from sketchify.backend.executors import step_costs
from sketchify.backend.executors.celery_executor import beat_costs
from sketchify.backend.executors.sketch_task import sketch_config
from sketchify.backend.storage.jobs import FINISHED
from sketchify.core.timing.durations import about
from sketchify.core.timing.estimate import job_seconds, measure_step_cost

pytest_plugins = ["backend_fixtures"]
LONG = {"preset": "auto", "steps": "1000", "seeds": "1", "strokes": "4,8"}


@pytest.fixture
def controlled(tiny_sketcher: Any) -> ControlledSketcher:
    return ControlledSketcher(tiny_sketcher)


def make(tmp_path: Any, controlled: ControlledSketcher, **config: Any) -> Any:
    return create_app({"DATA_DIR": tmp_path / "data", "SKETCHERS": [controlled],
                       "PROGRESS_EVERY_S": 0.0, **config})


@pytest.fixture
def app(tmp_path, controlled) -> Iterator[Any]:
    app = make(tmp_path, controlled)
    yield app
    controlled.open()
    app.extensions["sketchify"].close()


def submit(client: Any, **fields: str) -> dict[str, Any]:
    data: dict[str, Any] = {**fields, "image": (io.BytesIO(png_bytes()), "p.png")}
    response = client.post("/v1/sketches", data=data, content_type="multipart/form-data")
    assert response.status_code == 202, response.get_json()
    return response.get_json()


def measured_cost(client: Any) -> float:
    costs = wait_for(lambda: client.get("/v1/health").get_json()["step_cost"], timeout=60)
    assert list(costs) == ["cpu"] and costs["cpu"] > 0
    return costs["cpu"]


def seconds(params: dict[str, Any], counts: list[int], cost: float) -> float:
    """A whole job's time on the CPU by the contract's formula."""
    return job_seconds(sketch_config(params, "cpu"), counts, cost)


def test_estimates_count_the_job_ahead_and_the_job_itself(app, controlled):
    client = app.test_client()
    cost = measured_cost(client)
    controlled.start_gate.clear()  # the first job holds the one device at step 0
    first = submit(client, **LONG)
    wait_for(controlled.entered.is_set)
    second = submit(client, **{**LONG, "strokes": "16"})
    running = client.get(f"/v1/sketches/{first['id']}").get_json()
    queued = client.get(f"/v1/sketches/{second['id']}").get_json()
    # `auto` resolved where it runs: a CPU gets `draft`; the request keeps what was asked.
    assert (running["resolved_preset"], running["device"]) == ("draft", "cpu")
    assert running["params"]["preset"] == "auto"
    assert (queued["resolved_preset"], queued["device"]) == (None, None)
    whole_first = seconds(running["params"], [4, 8], cost)
    whole_second = seconds(queued["params"], [16], cost)
    assert running["estimate_s"] == pytest.approx(whole_first, abs=0.1)
    # The submission's own answer has it too, though the idle device may take the job before
    # the answer is written (the extension refuses too long a job from this figure).
    assert first["estimate_s"] == pytest.approx(whole_first, abs=0.1)
    assert queued["estimate_s"] == pytest.approx(whole_first + whole_second, abs=0.1)
    assert queued["estimate_text"] == about(queued["estimate_s"])
    assert queued["progress"]["eta_text"] == "unknown"  # nothing ran yet
    listed_twice = client.get(f"/v1/sketches/{second['id']}").get_json()
    assert listed_twice["estimate_s"] == queued["estimate_s"]
    for job in (first, second):
        client.delete(f"/v1/sketches/{job['id']}")
    controlled.open()
    done = wait_for(lambda: (j := client.get(f"/v1/sketches/{first['id']}").get_json())[
        "status"] in FINISHED and j)
    assert done["estimate_s"] is None and done["estimate_text"] == "unknown"


def test_a_job_in_another_precision_is_estimated_with_that_precisions_cost(
        app, controlled, monkeypatch):
    client = app.test_client()
    default = measured_cost(client)  # auto is fp32 on a CPU; fp16 is the other precision
    timed = []

    def measure(sketcher, **kwargs):
        timed.append(kwargs["execution"].precision)
        return measure_step_cost(sketcher, **kwargs)

    monkeypatch.setattr(step_costs, "measure_step_cost", measure)
    controlled.start_gate.clear()
    # The idle worker times fp16 before it takes the first job that asks for it.
    first = submit(client, **LONG, precision="fp16")
    wait_for(controlled.entered.is_set)
    health = client.get("/v1/health").get_json()
    costs = health["step_cost_by_precision"]["cpu"]
    assert set(costs) == {"fp32", "fp16"} and costs["fp32"] == default
    assert health["step_cost"] == {"cpu": default}  # the default precision's, as before
    second = submit(client, **{**LONG, "strokes": "16"}, precision="fp16")
    third = submit(client, **{**LONG, "strokes": "16"}, precision="fp32")
    shown = [client.get(f"/v1/sketches/{job['id']}").get_json() for job in (first, second, third)]
    whole = [seconds(shown[0]["params"], [4, 8], costs["fp16"]),
             seconds(shown[1]["params"], [16], costs["fp16"]),
             seconds(shown[2]["params"], [16], default)]
    assert shown[0]["status"] == "running"
    assert shown[0]["estimate_s"] == pytest.approx(whole[0], abs=0.1)
    assert shown[1]["estimate_s"] == pytest.approx(whole[0] + whole[1], abs=0.1)
    assert shown[2]["estimate_s"] == pytest.approx(sum(whole), abs=0.1)
    for job in (first, second, third):
        client.delete(f"/v1/sketches/{job['id']}")
    controlled.open()
    wait_for(lambda: client.get(f"/v1/sketches/{first['id']}").get_json()["status"] in FINISHED)
    assert timed == ["fp16"]  # once, though two jobs asked for it


def test_a_heartbeat_gives_its_costs_per_precision_and_an_older_one_its_default():
    beat = {"device": "cuda:0", "step_cost": 0.01, "step_costs": {"fp16": 0.01, "fp32": 0.02}}
    assert beat_costs(beat) == {"fp16": 0.01, "fp32": 0.02}
    assert beat_costs({"device": "cuda:0", "step_cost": 0.01}) == {"fp16": 0.01}
    assert beat_costs({"device": "cpu", "step_cost": 0.3}) == {"fp32": 0.3}
    assert beat_costs({"device": "cpu", "step_cost": None, "step_costs": {}}) == {}


def test_a_job_refreshes_the_step_cost_and_eta_text_follows_progress(app, controlled):
    client = app.test_client()
    measured = measured_cost(client)
    controlled.step_gate.clear()
    job = submit(client, preset="draft", steps="30", seeds="1", strokes="4")
    wait_for(controlled.reported.is_set)
    running = client.get(f"/v1/sketches/{job['id']}").get_json()
    assert running["progress"]["eta_text"] == about(running["progress"]["eta_s"])
    controlled.open()
    done = wait_for(lambda: (j := client.get(f"/v1/sketches/{job['id']}").get_json())[
        "status"] in FINISHED and j)
    assert done["status"] == "done"
    refreshed = client.get("/v1/health").get_json()["step_cost"]["cpu"]
    assert refreshed > 0 and refreshed != measured  # the job's own timing moved it


def test_a_job_in_another_precision_leaves_the_step_cost_alone(app, controlled):
    client = app.test_client()
    measured = measured_cost(client)
    # auto is fp32 on a CPU: an fp16 job's timing is not the cost of the jobs that run by default.
    job = submit(client, preset="draft", steps="30", seeds="1", strokes="4", precision="fp16")
    done = wait_for(lambda: (j := client.get(f"/v1/sketches/{job['id']}").get_json())[
        "status"] in FINISHED and j)
    assert (done["status"], done["params"]["precision"]) == ("done", "fp16")
    assert client.get("/v1/health").get_json()["step_cost"]["cpu"] == measured


def test_nothing_measured_means_no_estimate(tmp_path, controlled):
    app = make(tmp_path, controlled, MEASURE_STEP_COST=False)
    try:
        client = app.test_client()
        controlled.start_gate.clear()
        job = submit(client, **LONG)
        assert client.get("/v1/health").get_json()["step_cost"] == {}
        shown = client.get(f"/v1/sketches/{job['id']}").get_json()
        assert shown["estimate_s"] is None and shown["estimate_text"] == "unknown"
        assert shown["progress"]["eta_text"] == "unknown"
        client.delete(f"/v1/sketches/{job['id']}")
    finally:
        controlled.open()
        app.extensions["sketchify"].close()


def test_a_job_behind_one_in_an_unmeasured_precision_has_no_estimate(tmp_path):
    from sketchify.backend.api.estimates import QueueSnapshot
    from sketchify.backend.storage.jobs import JobStore

    store = JobStore(tmp_path / "data")
    params = {"preset": "draft", "strokes": [4], "width": 3.0, "steps": 10, "seeds": 1}
    unmeasured, _ = store.add({**params, "precision": "fp16"}, png_bytes())
    behind, _ = store.add({**params, "precision": "fp32"}, png_bytes())
    snapshot = QueueSnapshot(store, {"cpu": {"fp32": 0.01}})
    # Not a figure that leaves the fp16 job's unknown work out: no estimate at all.
    assert snapshot.seconds(unmeasured) is None and snapshot.seconds(behind) is None
    measured = QueueSnapshot(store, {"cpu": {"fp32": 0.01, "fp16": 0.01}})
    assert measured.seconds(behind) > measured.seconds(unmeasured) > 0

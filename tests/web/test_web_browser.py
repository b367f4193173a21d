"""The web page end to end: headless Chromium (Selenium) against a real `sketchify serve`
subprocess on 127.0.0.1 with a token and the tiny random-weight models on the CPU.

Long jobs use the standard preset (it runs every step) with 10000 steps, so they stay running
until a test cancels them; short ones use draft with a few steps.
"""

from __future__ import annotations

import base64
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import PIL.Image
import PIL.ImageDraw
import pytest
from backend_helpers import TOKEN, Server, png_bytes
from lxml import etree
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.select import Select

pytest_plugins = ["backend_fixtures", "browser_fixtures"]
pytestmark = pytest.mark.slow
SVG_PATH = "{http://www.w3.org/2000/svg}path"
LONG = {"preset": "standard", "steps": "10000", "seeds": "1"}
CAT = Path(__file__).parents[2] / "examples" / "cat.jpg"

DARK_PIXELS = """
const canvas = arguments[0];
const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
let dark = 0;
for (let i = 0; i < data.length; i += 4) if (data[i] < 200) dark++;
return dark;
"""
DROP = """
const [zone, png, name, other] = arguments;
const transfer = new DataTransfer();
const bytes = Uint8Array.from(atob(png), (c) => c.charCodeAt(0));
transfer.items.add(new File([bytes], name, {type: "image/png"}));
transfer.items.add(new File(["just text"], other, {type: "text/plain"}));
zone.dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true,
                                          cancelable: true}));
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_model_args) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("web") / "data", tiny_model_args)
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def no_jobs_left_running(server) -> Iterator[None]:
    """Each test starts with an idle worker, whatever the last one left behind."""
    yield
    active = server.http.get(f"{server.url}/v1/sketches?status=queued,running&limit=100",
                             timeout=30).json()["items"]
    for job in active:
        server.http.delete(f"{server.url}/v1/sketches/{job['id']}", timeout=30)
    for job in active:
        server.finished(job["id"], timeout=60)


def post_job(server: Server, name: str, **fields: str) -> str:
    """A job submitted with curl's means, as a teammate without the page would."""
    response = server.http.post(
        f"{server.url}/v1/sketches", files={"image": (name, png_bytes(96, 64))},
        data={"strokes": "4", "preset": "draft", "steps": "1", "seeds": "1", **fields},
        timeout=30)
    assert response.status_code == 202, response.text
    return response.json()["id"]


def cards(page) -> list[tuple[WebElement, str, str, str]]:
    """(card, photo name, job id, status) of each job card, top to bottom, read in one script
    so that a list the page is redrawing cannot change under the test's feet."""
    return page.driver.execute_script(
        "return [...document.querySelectorAll('.job')].map((card) => [card,"
        " card.querySelector('.job-title').textContent, card.dataset.id, card.dataset.status])")


def card_of(page, name: str, old: frozenset[str] = frozenset()) -> WebElement | None:
    """The first card of a job for the photo ``name`` whose id is not among ``old``."""
    return next((card for card, title, job_id, _ in cards(page)
                 if title == name and job_id not in old), None)


def submit_form(page, name: str) -> WebElement:
    """Press Sketch; the card of the new job for ``name`` (earlier tests left cards too)."""
    old = frozenset(job_id for _, _, job_id, _ in cards(page))
    page.find("#submit-button").click()
    return page.wait(lambda: card_of(page, name, old), f"the new job's card for {name}")


def titles(page) -> list[str]:
    return [title for _, title, _, _ in cards(page)]


def status_of(page, card: WebElement) -> str:
    return page.find(".job-status", card).text


def strokes_drawn(page, card: WebElement) -> list[str]:
    # Read in one script: the page replaces the paths at every preview refresh.
    return page.driver.execute_script(
        "return [...arguments[0].querySelectorAll('.overlay path')]"
        ".map((p) => p.getAttribute('d'))", card)


def fill_form(page, counts: set[int], **fields: str) -> None:
    for box in page.find_all("input[name=count]"):
        if box.is_selected() != (int(box.get_attribute("value")) in counts):
            box.click()
    for name, value in fields.items():
        element = page.find(f"#{name}")
        if name == "preset":
            Select(element).select_by_value(value)
        else:
            element.clear()
            element.send_keys(value)


def step_shown(page, card: WebElement) -> int | None:
    match = re.search(r"step (\d+) of 10000", status_of(page, card))
    return int(match.group(1)) if match else None


def test_token_prompt_refuses_a_wrong_token_and_keeps_the_right_one(page, server):
    page.open(server.url)
    page.wait(lambda: page.find("#token-section").is_displayed(), "the token prompt")
    assert not page.find("#app").is_displayed()
    assert page.driver.switch_to.active_element == page.find("#token-input")
    assert "needs an access token" in page.find("#token-message").text

    page.find("#token-input").send_keys("not-the-token", Keys.ENTER)
    page.wait(lambda: "did not accept" in page.find("#token-message").text,
              "the message that the token was refused")
    assert not page.find("#app").is_displayed()

    page.find("#token-input").send_keys(TOKEN, Keys.ENTER)
    page.wait(lambda: page.find("#app").is_displayed(), "the page after the right token")
    assert not page.find("#token-section").is_displayed()
    assert "Jobs run on cpu" in page.find("#server-status").text
    warning = page.find("#server-warning")
    assert warning.is_displayed() and "CPU" in warning.text and "slow" in warning.text

    page.driver.refresh()  # the tab keeps the token: no second prompt
    page.wait(lambda: page.find("#app").is_displayed(), "the page after a reload")
    assert not page.find("#token-section").is_displayed()


def test_upload_shows_progress_and_the_live_preview_then_cancels(page, server):
    page.open(server.url, TOKEN)
    page.wait(lambda: page.find("#app").is_displayed(), "the page")
    page.find("#photo-input").send_keys(str(CAT))
    assert [item.text.split(" (")[0] for item in page.find_all(".photo-name")] == ["cat.jpg"]
    fill_form(page, {8}, **LONG)
    card = submit_form(page, "cat.jpg")
    assert page.find_all(".photo-item") == []  # submitted photos leave the list
    job_id = card.get_attribute("data-id")
    first = page.wait(lambda: step_shown(page, card), "a step number in the status")
    page.wait(lambda: step_shown(page, card) > first, "the step number to move on")
    eta = server.job(job_id)["progress"].get("eta_text")  # the backend's field, once it exists
    if eta and eta != "unknown":
        assert re.search(r"about \d+ (s|min|h) left", status_of(page, card))

    canvas = page.find("canvas.photo", card)
    assert page.driver.execute_script(DARK_PIXELS, canvas) > 100  # the photo is drawn
    before = page.wait(lambda: len(s := strokes_drawn(page, card)) == 8 and s,
                       "8 preview strokes over the photo")
    page.wait(lambda: strokes_drawn(page, card) != before, "the preview to be refreshed")

    page.find(".cancel-button", card).click()
    page.wait(lambda: card.get_attribute("data-status") == "canceled", "the job canceled")
    assert status_of(page, card) == "Canceled: its best strokes so far are shown."
    assert page.driver.switch_to.active_element == page.find(".job-status", card)  # not lost
    assert server.job(job_id)["status"] == "canceled"
    assert len(strokes_drawn(page, card)) == 8
    assert not page.find(".cancel-button", card).is_displayed()


def test_queued_job_runs_after_a_cancel_and_its_svgs_and_zip_download(page, server, tmp_path):
    disc, masked, other = (tmp_path / f"{name}.png" for name in ("disc photo", "masked", "other"))
    disc.write_bytes(png_bytes(160, 120))
    masked.write_bytes(png_bytes(80, 80))
    other.write_bytes(png_bytes(80, 80))
    mask, notes = tmp_path / "mask.png", tmp_path / "notes.txt"
    mask_image = PIL.Image.new("L", (80, 80), 0)
    PIL.ImageDraw.Draw(mask_image).ellipse((20, 20, 60, 60), fill=255)  # the photo's disc
    mask_image.save(mask)
    notes.write_text("not an image")
    page.open(server.url, TOKEN)
    page.wait(lambda: page.find("#app").is_displayed(), "the page")
    page.find("#photo-input").send_keys(str(CAT))
    fill_form(page, {16}, **LONG)
    blocker = submit_form(page, "cat.jpg")
    blocker_id = blocker.get_attribute("data-id")
    page.wait(lambda: server.job(blocker_id)["status"] == "running", "the first job to start")

    page.find("#photo-input").send_keys(f"{disc}\n{masked}\n{other}")
    masks = page.find_all(".mask-input")
    masks[1].send_keys(str(mask))
    masks[2].send_keys(str(notes))
    fill_form(page, {4, 8}, preset="draft", steps="3")
    card = submit_form(page, "disc photo.png")
    # With the step cost measured, the server's estimate follows (queue wait included).
    assert re.fullmatch(r"Queued: starts next(, done in about [\d.]+ (s|min|h))?\.",
                        status_of(page, card)), status_of(page, card)
    masked_card = page.wait(lambda: card_of(page, "masked.png"), "the masked photo's job")
    masked_job = server.job(masked_card.get_attribute("data-id"))
    assert masked_job["params"]["mask"] == "file"
    assert server.job(card.get_attribute("data-id"))["params"]["mask"] == "none"
    # A mask that is no image is refused (the server names mask_image); that photo stays.
    error = page.wait(lambda: page.find_all(".photo-error[data-field=mask_image]"),
                      "the mask's error")[0]
    assert error.text and error.is_displayed()
    assert [item.text.split(" (")[0] for item in page.find_all(".photo-name")] == ["other.png"]
    assert card_of(page, "other.png") is None

    page.find(".cancel-button", blocker).click()
    page.wait(lambda: card.get_attribute("data-status") == "done", "the queued job to finish",
              timeout=60)
    assert status_of(page, card) == "Done after 3 steps."
    figures = page.wait(lambda: len(f := page.find_all(".result", card)) == 2 and f,
                        "one SVG per stroke count")
    assert [len(page.find_all("path", figure)) for figure in figures] == [4, 8]
    assert page.find(".zip-button", card).is_displayed()

    page.find("button", figures[0]).click()
    svg = page.downloaded("disc photo.4.svg")
    job_id = card.get_attribute("data-id")
    served = server.http.get(f"{server.url}/v1/sketches/{job_id}/svg?strokes=4", timeout=30)
    assert svg.read_bytes() == served.content
    assert len(etree.fromstring(svg.read_bytes()).findall(f".//{SVG_PATH}")) == 4

    page.find(".zip-button", card).click()
    archive = zipfile.ZipFile(page.downloaded("disc photo.zip"))
    assert archive.namelist() == ["disc photo.4.svg", "disc photo.8.svg"]
    assert archive.read("disc photo.4.svg") == served.content


def test_job_list_pages_filters_and_shows_a_teammates_new_job(page, server):
    post_job(server, "blocker.png", **LONG)  # keeps the others queued, so they cost nothing
    earlier = [post_job(server, f"earlier-{n:02}.png") for n in range(21)]
    for job_id in earlier:
        assert server.http.delete(f"{server.url}/v1/sketches/{job_id}", timeout=30).ok
    page.open(server.url, TOKEN)
    page.wait(lambda: len(page.find_all(".job")) == 20, "the first page of 20 jobs")
    assert titles(page) == [f"earlier-{n:02}.png" for n in range(20, 0, -1)]
    assert status_of(page, card_of(page, "earlier-20.png")) == "Canceled."

    page.find("#more-button").click()
    page.wait(lambda: len(page.find_all(".job")) > 20, "the next page")
    assert titles(page)[20:22] == ["earlier-00.png", "blocker.png"]

    post_job(server, "teammate.png")  # queued behind the blocker
    teammate = page.wait(lambda: card_of(page, "teammate.png"), "a teammate's new job",
                         timeout=20)
    assert titles(page)[0] == "teammate.png"
    assert status_of(page, teammate).startswith("Queued")

    Select(page.find("#status-filter")).select_by_value("canceled")
    page.wait(lambda: card_of(page, "earlier-20.png") and not card_of(page, "blocker.png"),
              "the list of canceled jobs")
    assert {status for _, _, _, status in cards(page)} == {"canceled"}


def test_dropped_photos_and_a_bad_setting_get_the_servers_sentence(page, server):
    page.open(server.url, TOKEN)
    page.wait(lambda: page.find("#app").is_displayed(), "the page")
    png = base64.b64encode(png_bytes()).decode()
    page.driver.execute_script(DROP, page.find("#drop-zone"), png, "dropped.png", "notes.txt")
    assert [item.text.split(" (")[0] for item in page.find_all(".photo-name")] == ["dropped.png"]
    assert page.find("#form-error").text == "Not a photo, left out: notes.txt."

    steps = page.find("#steps")
    steps.send_keys("0", Keys.ENTER)  # the keyboard alone submits the form
    refusal = server.http.post(f"{server.url}/v1/sketches", files={"image": ("a.png", png_bytes())},
                               data={"steps": "0"}, timeout=30).json()
    assert refusal["field"] == "steps"
    page.wait(lambda: page.find("#form-error").text == refusal["error"], "the server's sentence")
    assert page.driver.switch_to.active_element == steps
    assert steps.get_attribute("aria-invalid") == "true"
    assert len(page.find_all(".photo-item")) == 1  # kept, to submit again once fixed
    listed = server.http.get(f"{server.url}/v1/sketches", timeout=30).json()["items"]
    assert "dropped.png" not in [job["filename"] for job in listed]


def test_a_plot_ready_svg_is_asked_on_the_form_and_downloads(page, server, tmp_path):
    photo = tmp_path / "wide.png"
    photo.write_bytes(png_bytes(160, 120))
    page.open(server.url, TOKEN)
    page.wait(lambda: page.find("#app").is_displayed(), "the page")
    page.find("#photo-input").send_keys(str(photo))
    fill_form(page, {4}, preset="draft", steps="2", pen="0")
    Select(page.find("#plot")).select_by_value("A5")
    page.find("#submit-button").click()
    # A pen of 0 mm: the server's sentence, and the plot choice is where to fix it.
    page.wait(lambda: "more than 0" in page.find("#form-error").text, "the pen's refusal")
    assert page.find("#form-error").get_attribute("data-field") == "plot"
    assert page.find("#plot").get_attribute("aria-invalid") == "true"
    fill_form(page, {4}, pen="0.3")
    card = submit_form(page, "wide.png")
    job = server.job(card.get_attribute("data-id"))
    assert job["params"]["plot"] == {"page": "A5", "pen_mm": 0.3, "margin_mm": 10.0}
    page.wait(lambda: card.get_attribute("data-status") == "done", "the job to finish",
              timeout=60)
    button = page.wait(lambda: page.find_all(".plot-button", card), "the plot button")[0]
    button.click()
    root = etree.fromstring(page.downloaded("wide.4.plot.svg").read_bytes())
    assert (root.get("width"), root.get("height")) == ("210mm", "148mm")
    assert {p.get("stroke-width") for p in root.findall(f".//{SVG_PATH}")} == {"0.3"}

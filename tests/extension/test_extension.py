"""Sketchify image… under inkex.tester, against a stand-in backend on 127.0.0.1: reading
pixels, placing the strokes exactly on the image, labels and visibility, provenance kept in
the layers, honest times (estimate, ETA, refusing a job longer than the timeout), the preview,
and leaving the document untouched on every failure."""

from __future__ import annotations

import contextlib
import io
import json
import math
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import ClassVar
from unittest import mock

import inkex
from extension_cases import (
    EXT_DIR,
    PATH_TAG,
    SKETCHIFY,
    ExtensionCase,
    data_uri,
    document,
    document_path,
    image,
    layer,
    png_bytes,
    points,
    rotate_about_origin,
    top_layers,
    visible,
)
from extension_fixtures import xvfb_run
from inkex.tester.mock import Capture
from lxml import etree
from sketchify_again import SketchAgain
from sketchify_image import SketchifyImage
from sketchify_ink.client import CANCEL_TIMEOUT, Backend
from sketchify_ink.durations import about as extension_about
from sketchify_ink.geometry import length
from sketchify_ink.progress import Waiting
from sketchify_update import UpdateSketches

from sketchify.core.timing.durations import about

ALIGNS = [f"x{h}Y{v}" for h in ("Min", "Mid", "Max") for v in ("Min", "Mid", "Max")]


class SketchifyCase(ExtensionCase):
    effect_class = SketchifyImage

    def args(self, ids=("img",), *extra: str) -> list[str]:
        return [*(f"--id={i}" for i in ids), f"--url={self.backend.url}", "--timeout=20",
                *extra]

    def sketch(self, doc: str, ids=("img",), *extra: str) -> inkex.SvgDocumentElement:
        """Run the extension as Inkscape would (no stray stdout/stderr allowed)."""
        return self.succeeds(SketchifyImage, doc, self.args(ids, *extra))

    def fails(self, doc: str, args: list[str], doc_path: str | None = None) -> str:
        return super().fails(SketchifyImage, doc, args, doc_path)

    def sketch_layers(self, root) -> dict[str, inkex.Layer]:
        return {name: g for name, g in top_layers(root).items() if " strokes · " in name}

    def assert_mapped(self, root, count: int, label: str, mapping, width_scale: float):
        """Every stroke of the layer is the backend's stroke pushed through ``mapping``."""
        (job,) = self.backend.jobs.values()
        source = etree.fromstring(job.svgs[count].encode())
        group = source.find("{http://www.w3.org/2000/svg}g")
        expected_width = float(group.get("stroke-width")) * width_scale
        sources = [p.get("d") for p in source.iter(PATH_TAG)]
        placed = self.sketch_layers(root)[f"{count} strokes · {label}"]
        self.assertIsNone(placed.get("transform"))
        paths = list(placed.iter(PATH_TAG))
        self.assertEqual(len(paths), count)
        for path, d in zip(paths, sources, strict=True):
            self.assertAlmostEqual(float(path.style["stroke-width"]), expected_width, 4)
            self.assertEqual(path.style["fill"], "none")
            for (gx, gy), (px, py) in zip(points(path.get("d")), points(d), strict=True):
                ex, ey = mapping(px, py)
                self.assertAlmostEqual(gx, ex, 3)
                self.assertAlmostEqual(gy, ey, 3)


class TestReadingPixels(SketchifyCase):
    def test_embedded_data_uri(self):
        photo = png_bytes(200, 100)
        doc = self.write(document(layer(image(data_uri(photo)))))
        root = self.sketch(doc, ("img",), "--strokes_4=true", "--preset=draft", "--seed=7",
                           "--steps=30", "--prompt=a cat")
        (job,) = self.backend.jobs.values()
        self.assertEqual(job.image, photo)
        self.assertEqual(job.fields, {"strokes": "4,16", "preset": "draft", "seed": "7",
                                      "steps": "30", "prompt": "a cat"})
        self.assertEqual(set(self.sketch_layers(root)),
                         {"4 strokes · img", "16 strokes · img"})
        self.assert_mapped(root, 16, "img", lambda x, y: (x, y), 1.0)

    def test_each_layer_keeps_the_sketchs_provenance_under_a_unique_id(self):
        doc = self.write(document(layer(image(data_uri(png_bytes(200, 100)))
                                        + '<rect id="sketch16-img-provenance"/>')))
        root = self.sketch(doc, ("img",), "--strokes_4=true")
        (job,) = self.backend.jobs.values()
        ids = [el.get("id") for el in root.iter() if el.get("id")]
        self.assertEqual(len(ids), len(set(ids)), "ids must stay unique in the document")
        for count in (4, 16):
            placed = self.sketch_layers(root)[f"{count} strokes · img"]
            (metadata,) = placed.iterchildren("{http://www.w3.org/2000/svg}metadata")
            sent = etree.fromstring(job.svgs[count].encode()).find(
                "{http://www.w3.org/2000/svg}metadata")
            self.assertEqual(json.loads(metadata.text), json.loads(sent.text))
            self.assertEqual(json.loads(metadata.text)["strokes"], count)
            self.assertNotEqual(metadata.get("id"), "sketchify")

    def test_default_preset_is_automatic(self):
        doc = self.write(document(layer(image(data_uri(png_bytes(200, 100))))))
        self.sketch(doc)
        (job,) = self.backend.jobs.values()
        self.assertEqual(job.fields["preset"], "auto")

    def test_linked_file_next_to_the_document(self):
        photo = png_bytes(200, 100, (10, 20, 30))
        Path(self.tempdir, "pics").mkdir()
        Path(self.tempdir, "pics", "cat photo.png").write_bytes(photo)
        doc = self.write(document(layer(image("pics/cat photo.png"))))
        root = self.sketch(doc)
        (job,) = self.backend.jobs.values()
        self.assertEqual(job.image, photo)
        self.assert_mapped(root, 16, "cat photo.png", lambda x, y: (x, y), 1.0)

    def test_relative_link_in_inkscapes_temporary_copy(self):
        # Inkscape runs extensions on a copy elsewhere (DOCUMENT_PATH names the real file).
        # Inkscape 1.2 rewrites relative links to be relative to the copy; a copy that kept
        # them as they were must work too, through the real document's folder.
        photo = png_bytes(200, 100)
        original = self.write(document(layer(image("photo.png"))), "work/doc.svg")
        Path(original).with_name("photo.png").write_bytes(photo)
        for href in ("../work/photo.png", "photo.png"):
            with self.subTest(href=href):
                self.backend.reset()
                copy = self.write(document(layer(image(href))), "tmp-copy/ink_ext_XXXX.svg")
                effect, output = SketchifyImage(), io.BytesIO()
                with document_path(original), Capture("stderr") as stderr:
                    effect.run([copy, *self.args()], output=output)
                self.assertEqual(stderr.getvalue(), "")
                (job,) = self.backend.jobs.values()
                self.assertEqual(job.image, photo)
                root = inkex.load_svg(output.getvalue()).getroot()
                self.assertEqual(len(self.sketch_layers(root)), 1)

    def test_absolute_path_and_file_uri(self):
        first, second = png_bytes(200, 100, (1, 2, 3)), png_bytes(200, 100, (4, 5, 6))
        Path(self.tempdir, "a.png").write_bytes(first)
        Path(self.tempdir, "b c.png").write_bytes(second)
        uri = Path(self.tempdir, "b c.png").as_uri()
        body = layer(image(str(Path(self.tempdir, "a.png")), ident="one")
                     + image(uri, x=200, ident="two"))
        elsewhere = self.write(document(body), "far/away/doc.svg")
        root = self.sketch(elsewhere, ("one", "two"))
        uploads = sorted(job.image for job in self.backend.jobs.values())
        self.assertEqual(uploads, sorted([first, second]))
        self.assertEqual(set(self.sketch_layers(root)),
                         {"16 strokes · a.png", "16 strokes · b c.png"})

    def test_unit_lengths(self):
        self.assertAlmostEqual(length("25.4mm", "w"), 96.0)
        self.assertAlmostEqual(length(" 12 ", "w"), 12.0)
        with self.assertRaises(inkex.AbortExtension):
            length("50%", "w")


class TestPlacement(SketchifyCase):
    def test_rotated_image_inside_a_translated_layer(self):
        doc = self.write(document(layer(
            image(data_uri(png_bytes(200, 100)), x=10, y=20, width=100, height=50,
                  extra='transform="rotate(30)" inkscape:label="Cat"'),
            transform="translate(5,7)")))
        root = self.sketch(doc)

        def expected(px, py):  # translate(5,7) . rotate(30) . (x + px/2, y + py/2)
            rx, ry = rotate_about_origin(30, 10 + px * 0.5, 20 + py * 0.5)
            return 5 + rx, 7 + ry

        self.assert_mapped(root, 16, "Cat", expected, 0.5)

    def test_auto_height_follows_the_pixel_aspect_ratio(self):
        # A 200x100 image 100 wide with height "auto" is 50 high: half a unit per pixel.
        for width, height in ((100, "auto"), ("auto", 50)):
            with self.subTest(width=width, height=height):
                self.backend.reset()
                doc = self.write(document(layer(image(
                    data_uri(png_bytes(200, 100)), x=10, y=20, width=width, height=height))),
                    f"auto-{width}-{height}.svg")
                root = self.sketch(doc)
                self.assert_mapped(root, 16, "img", lambda x, y: (10 + x / 2, 20 + y / 2), 0.5)

    def test_nested_svgs_own_transform_applies_outside_its_viewport(self):
        nested = ('<svg x="10" y="20" width="100" height="50" viewBox="0 0 200 100" '
                  f'transform="scale(2)">{image(data_uri(png_bytes(200, 100)))}</svg>')
        root = self.sketch(self.write(document(layer(nested))))
        # scale(2) . (viewport: x + px/2, y + py/2)
        self.assert_mapped(root, 16, "img", lambda x, y: (20 + x, 40 + y), 1.0)

    def test_every_preserve_aspect_ratio_mode(self):
        # A 200x100 image in a 100x100 box at (30, 40): meet scales by 0.5, slice by 1.
        uri = data_uri(png_bytes(200, 100))
        offsets = {"Min": 0.0, "Mid": 0.5, "Max": 1.0}
        for mode in [*(f"{a} {m}" for a in ALIGNS for m in ("meet", "slice")), "none", None]:
            with self.subTest(mode=mode):
                self.backend.reset()
                extra = f'preserveAspectRatio="{mode}"' if mode else ""
                doc = self.write(document(layer(image(
                    uri, x=30, y=40, width=100, height=100, extra=extra))), f"{mode}.svg")
                root = self.sketch(doc)
                if mode == "none":
                    def expected(px, py):
                        return 30 + px * 0.5, 40 + py * 1.0
                    width_scale = math.sqrt(0.5)
                else:
                    align, _, fit = (mode or "xMidYMid meet").partition(" ")
                    s = 1.0 if fit == "slice" else 0.5
                    dx = (100 - 200 * s) * offsets[align[1:4]]
                    dy = (100 - 100 * s) * offsets[align[5:8]]

                    def expected(px, py, s=s, dx=dx, dy=dy):
                        return 30 + dx + px * s, 40 + dy + py * s
                    width_scale = s
                self.assert_mapped(root, 16, "img", expected, width_scale)

    def test_mm_document_with_a_viewbox_and_unit_lengths(self):
        # 1 user unit = 1 mm of paper. Inside the drawing, as SVG says, a unit on an attribute
        # is relative to user units (1px = 1 user unit), so "13.2291666667mm" is 50 units.
        doc = self.write(document(
            layer(image(data_uri(png_bytes(100, 100)), x=10, y=15, width=50,
                        height="13.2291666667mm"), transform="scale(2)"),
            width="210mm", height="297mm", viewbox="0 0 210 297"))
        root = self.sketch(doc)
        # A 100 px image in a 50x50 box: half a unit per pixel; the layer's scale(2) doubles.
        self.assert_mapped(root, 16, "img", lambda x, y: (2 * (10 + x / 2), 2 * (15 + y / 2)),
                           1.0)

    def test_the_rest_of_the_document_stays_as_written_to_the_last_digit(self):
        # inkex's own get("transform") would rewrite it rounded to 6 digits.
        body = layer(image(data_uri(png_bytes(200, 100)), x=10, y=20,
                           extra='transform="rotate(10.123456789) translate(12345.6789,0)" '
                                 'style="opacity:0.5;image-rendering:pixelated"'),
                     transform="matrix(1.00000001 0 0 1.00000001 0.123456789 7)")
        doc = self.write(document(body))
        before = inkex.load_svg(doc).getroot()
        after = self.sketch(doc)
        self.assertEqual(etree.tostring(before.getElementById("layer1")),
                         etree.tostring(after.getElementById("layer1")))

    def test_layers_sit_just_above_each_images_layer_in_count_order(self):
        uri = data_uri(png_bytes(120, 80))
        body = (layer(image(uri, ident="a", extra='inkscape:label="A"'), ident="L1")
                + layer('<rect width="5" height="5"/>', ident="L2")
                + image(uri, ident="b", x=150, extra='inkscape:label="B"'))
        root = self.sketch(self.write(document(body)), ("a", "b"), "--strokes_4=true",
                           "--strokes_other=8; 4")
        order = [el.get("inkscape:label") or el.get("id") for el in root]
        self.assertEqual(order, ["Photo", "4 strokes · A", "8 strokes · A",
                                 "16 strokes · A", "Photo", "B",
                                 "4 strokes · B", "8 strokes · B",
                                 "16 strokes · B"])
        for name, group in self.sketch_layers(root).items():
            self.assertEqual(group.get("inkscape:groupmode"), "layer")
            count = int(name.split()[0])
            self.assertEqual(len(list(group.iter(PATH_TAG))), count)
            # No parent layer, and with several counts only the largest shows at first.
            self.assertIs(group.getparent(), root)
            self.assertEqual(visible(group), count == 16, name)


class TestFailuresLeaveTheDocumentUntouched(SketchifyCase):
    def photo_doc(self) -> str:
        return self.write(document(layer(image(data_uri(png_bytes(64, 48)))
                                         + '<rect id="r" width="3" height="3"/>')))

    def test_nothing_selected(self):
        message = self.fails(self.photo_doc(), [f"--url={self.backend.url}"])
        self.assertIn("Nothing is selected", message)
        self.assertEqual(self.backend.requests, [])

    def test_no_image_in_the_selection(self):
        message = self.fails(self.photo_doc(), ["--id=r", f"--url={self.backend.url}"])
        self.assertIn("no image", message)

    def test_missing_linked_file(self):
        doc = self.write(document(layer(image("gone.png"))))
        message = self.fails(doc, self.args())
        self.assertIn("missing", message)
        self.assertIn(str(Path(self.tempdir, "gone.png")), message)
        self.assertEqual(self.backend.requests, [])

    def test_unreadable_embedded_data(self):
        doc = self.write(document(layer(image("data:image/png;base64,@@not base64@@"))))
        self.assertIn("unreadable", self.fails(doc, self.args()))

    def test_bad_stroke_counts(self):
        message = self.fails(self.photo_doc(), self.args(("img",), "--strokes_other=8, x"))
        self.assertIn("'x'", message)

    def test_unreachable_backend_says_how_to_start_it(self):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        message = self.fails(self.photo_doc(), ["--id=img", f"--url=http://127.0.0.1:{port}"])
        self.assertIn("Cannot reach", message)
        self.assertIn("sketchify serve", message)

    def test_wrong_token(self):
        self.backend.behaviour.token = "s3cret"
        message = self.fails(self.photo_doc(), self.args(("img",), "--token=nope"))
        self.assertIn("401", message)
        self.assertIn("token", message)

    def test_right_token_is_sent(self):
        self.backend.behaviour.token = "s3cret"
        root = self.sketch(self.photo_doc(), ("img",), "--token=s3cret")
        self.assertEqual(len(self.sketch_layers(root)), 1)

    def test_client_error_shows_the_backends_sentence(self):
        self.backend.behaviour.submit_status = 422
        self.backend.behaviour.submit_error = "The image is too large: 90000x90000 pixels."
        message = self.fails(self.photo_doc(), self.args())
        self.assertIn("HTTP 422", message)
        self.assertIn("The image is too large: 90000x90000 pixels.", message)

    def test_server_error(self):
        self.backend.behaviour.submit_status = 500
        self.backend.behaviour.submit_error = "Out of memory on cuda:0."
        self.assertIn("Out of memory on cuda:0.", self.fails(self.photo_doc(), self.args()))

    def test_failed_job(self):
        self.backend.behaviour.job_error = "CLIP weights are missing."
        message = self.fails(self.photo_doc(), self.args())
        self.assertIn("failed on the backend: CLIP weights are missing.", message)

    def test_timeout_cancels_the_job_on_the_backend(self):
        # Without an estimate (nothing measured yet) the job starts; the timeout still holds.
        self.backend.behaviour.never_finishes = True
        self.backend.behaviour.estimate_s = None
        args = [a for a in self.args() if not a.startswith("--timeout")] + ["--timeout=1"]
        message = self.fails(self.photo_doc(), args)
        self.assertIn("did not finish within 1 s", message)
        (job,) = self.backend.jobs.values()
        self.assertIn(("DELETE", f"/v1/sketches/{job.id}"), self.backend.requests)
        self.assertTrue(job.canceled)

    def test_cancel_button_cancels_the_job_on_the_backend(self):
        class ClickedCancel(Waiting):
            def show(self, text, fraction):
                self.canceled = "step" in text  # the user clicks once progress shows

        self.backend.behaviour.polls_until_done = 50
        with window_is(ClickedCancel()):
            message = self.fails(self.photo_doc(), self.args())
        self.assertIn("Canceled", message)
        (job,) = self.backend.jobs.values()
        self.assertTrue(job.canceled)


    def test_sketch_svg_arrives_as_the_exact_bytes_served(self):
        # image/svg+xml without a charset: no guessed decoding may touch non-ASCII text.
        backend = Backend(self.backend.url)
        try:
            job_id = backend.submit(png_bytes(40, 20), "p.png", {"strokes": "4"})["id"]
            while backend.job(job_id)["status"] != "done":
                pass
            job = self.backend.jobs[job_id]
            job.svgs[4] = job.svgs[4].replace("<path", "<title>Café – 猫</title><path", 1)
            self.assertEqual(backend.svg(job_id, 4), job.svgs[4].encode())
        finally:
            backend.close()

    def test_best_effort_cancel_gives_up_quickly_on_a_silent_backend(self):
        with socket.socket() as silent:  # accepts connections, never answers
            silent.bind(("127.0.0.1", 0))
            silent.listen()
            backend = Backend(f"http://127.0.0.1:{silent.getsockname()[1]}")
            start = time.monotonic()
            backend.cancel("some-job")
            backend.close()
        self.assertLess(time.monotonic() - start, CANCEL_TIMEOUT + 3)

    def test_inkscape_ending_the_script_cancels_the_job(self):
        # Inkscape's own Cancel button terminates the script (SIGTERM).
        self.backend.behaviour.never_finishes = True
        doc = self.photo_doc()
        script = subprocess.Popen(
            [sys.executable, str(EXT_DIR / "sketchify_image.py"), doc, *self.args()],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=EXT_DIR,
        )
        deadline = time.monotonic() + 30
        while not self.backend.jobs and time.monotonic() < deadline:
            time.sleep(0.05)
        script.terminate()
        out, err = script.communicate(timeout=30)
        self.assertNotEqual(script.returncode, 0)
        self.assertEqual(out, b"")
        self.assertIn(b"Canceled by Inkscape", err)
        (job,) = self.backend.jobs.values()
        self.assertTrue(job.canceled)


class Recording(Waiting):
    """A progress window that keeps what it was shown."""

    def __init__(self, previews: bool = False) -> None:
        self.texts: list[str] = []
        self.previews_shown: list[tuple[bytes, bytes]] = []
        self.previews = previews

    def show(self, text, fraction):
        self.texts.append(text)

    def preview(self, photo, sketch_svg):
        self.previews_shown.append((photo, sketch_svg))

    def wait(self, seconds):
        time.sleep(min(seconds, 0.01))


@contextlib.contextmanager
def window_is(recording: Waiting):
    """Sketchify image shows ``recording`` as its progress window."""

    @contextlib.contextmanager
    def window(_title):
        yield recording

    with mock.patch("sketchify_image.progress_window", window):
        yield recording


class TestHonestTime(SketchifyCase):
    def photo_doc(self) -> str:
        return self.write(document(layer(image(data_uri(png_bytes(64, 48))))))

    def test_a_job_longer_than_the_timeout_is_not_started(self):
        self.backend.behaviour.estimate_s = 5 * 3600
        message = self.fails(self.photo_doc(), self.args(("img",), "--timeout=1800"))
        self.assertIn("would take about 5 h", message)
        self.assertIn("longer than the 1800 s", message)
        self.assertIn("Draft", message)
        self.assertIn("Wait for the sketches", message)
        (job,) = self.backend.jobs.values()
        self.assertTrue(job.canceled, "the job must be canceled while still queued")
        # Its estimate came with the submission: no status poll, nothing fetched.
        self.assertEqual([method for method, _ in self.backend.requests], ["POST", "DELETE"])

    def test_the_estimate_before_the_first_step_then_the_eta(self):
        behaviour = self.backend.behaviour
        behaviour.estimate_s, behaviour.queued_polls, behaviour.polls_until_done = 7200, 1, 3
        for server_texts in (True, False):  # a backend without texts gets the same wording
            with self.subTest(server_texts=server_texts), window_is(Recording()) as window:
                behaviour.estimate_text = server_texts
                self.sketch(self.photo_doc(), ("img",), "--timeout=86400")
                progress = [t for t in window.texts if t.startswith("img:")]
                self.assertEqual([t.splitlines()[0] for t in progress], [
                    "img: queued, 1 job ahead, about 2 h in all",
                    "img: starting (Draft on cpu), about 2 h in all",
                    "img: step 40 of 100 (Draft on cpu), about 1.2 h left",
                    "img: step 80 of 100 (Draft on cpu), about 24 min left",
                ])
                # Over ten minutes, the window says so plainly (here: every time).
                for text in progress:
                    self.assertIn("more than ten minutes", text.splitlines()[1])
                    self.assertIn("Draft", text)

    def test_short_jobs_get_no_warning(self):
        self.backend.behaviour.estimate_s = 35
        with window_is(Recording()) as window:
            self.sketch(self.photo_doc(), ("img",), "--timeout=60")
        self.assertIn("img: starting (Draft on cpu), about 35 s in all", window.texts)
        self.assertFalse([t for t in window.texts if "ten minutes" in t])

    def test_the_window_shows_the_current_best_strokes(self):
        self.backend.behaviour.polls_until_done = 3
        photo_doc = self.photo_doc()
        with window_is(Recording(previews=True)) as window:
            self.sketch(photo_doc, ("img",), "--strokes_4=true")
        (job,) = self.backend.jobs.values()
        self.assertTrue(window.previews_shown)
        for photo, sketch in window.previews_shown:
            self.assertEqual(photo, job.image)
            self.assertEqual(sketch, job.svgs[16].encode())  # the largest count
        self.assertIn(("GET", f"/v1/sketches/{job.id}/svg?strokes=16&preview=1"),
                      self.backend.requests)

    def test_no_previews_are_fetched_without_a_window(self):
        self.backend.behaviour.polls_until_done = 3
        self.sketch(self.photo_doc())
        self.assertFalse([path for _, path in self.backend.requests if "preview" in path])


class TestWaitOff(SketchifyCase):
    def test_returns_at_once_with_placeholders_that_remember_their_job(self):
        behaviour = self.backend.behaviour
        token = "tok-7f3a9c"
        behaviour.never_finishes, behaviour.estimate_s, behaviour.token = True, 5 * 3600, token
        doc = self.write(document(layer(image(
            data_uri(png_bytes(200, 100)), x=10, y=20, width=100, height=50,
            extra='transform="rotate(30)" inkscape:label="Cat"'), transform="translate(5,7)")))
        start = time.monotonic()
        root = self.sketch(doc, ("img",), "--wait=false", "--strokes_4=true",
                           f"--token={token}")
        self.assertLess(time.monotonic() - start, 5)
        (job,) = self.backend.jobs.values()
        # Submitted, never polled or waited on; no token anywhere in the document.
        self.assertEqual([method for method, _ in self.backend.requests], ["POST"])
        self.assertNotIn(token.encode(), Path(doc).read_bytes())
        layers = self.sketch_layers(root)
        self.assertEqual(set(layers), {"4 strokes · Cat · queued", "16 strokes · Cat · queued"})
        for name, placeholder in layers.items():
            count = int(name.split()[0])
            self.assertEqual(visible(placeholder), count == 16)
            self.assertEqual(list(placeholder.iter(PATH_TAG)), [])
            record = {key.split("}")[1]: value for key, value in placeholder.attrib.items()
                      if key.startswith(SKETCHIFY)}
            frame = inkex.Transform(record.pop("frame"))
            self.assertEqual(record, {"format": "2", "url": self.backend.url, "job": job.id,
                                      "strokes": str(count), "image": "img",
                                      "pixels": "200 100", "status": "queued",
                                     "seed": "0", "seeds": "1"})
            for pixel, at in (((0, 0), (10, 20)), ((200, 100), (110, 70))):
                rx, ry = rotate_about_origin(30, *at)
                self.assertAlmostEqual(frame.apply_to_point(pixel).x, 5 + rx, 9)
                self.assertAlmostEqual(frame.apply_to_point(pixel).y, 7 + ry, 9)

    def test_a_refused_submission_cancels_the_ones_before_it(self):
        uri = data_uri(png_bytes(64, 48))
        doc = self.write(document(layer(image(uri, ident="a") + image(uri, ident="b", x=80))))
        behaviour = self.backend.behaviour
        behaviour.accepted, behaviour.submit_status = 1, 507
        behaviour.submit_error = "The disk is full."
        message = self.fails(doc, self.args(("a", "b"), "--wait=false"))
        self.assertIn("The disk is full.", message)
        (job,) = self.backend.jobs.values()
        self.assertTrue(job.canceled)

    def test_an_unknown_pixel_format_is_refused_before_anything_is_sent(self):
        doc = self.write(document(layer(image("data:image/png;base64,"
                                              + "QUJDREVGR0hJSktMTU5PUA=="))))
        message = self.fails(doc, self.args(("img",), "--wait=false"))
        self.assertIn("not a PNG, JPEG, WebP, GIF or BMP", message)
        self.assertEqual(self.backend.requests, [])


class TestInxAndWindow(SketchifyCase):
    INX: ClassVar = {"org.sketchify.image": (EXT_DIR / "sketchify_image.inx", SketchifyImage),
           "org.sketchify.update": (EXT_DIR / "sketchify_update.inx", UpdateSketches),
           "org.sketchify.again": (EXT_DIR / "sketchify_again.inx", SketchAgain)}

    def test_inx_files_validate_against_inkscape_schemas(self):
        schemas = [Path("/usr/share/inkscape/extensions/inkscape.extension.rng"),
                   Path(inkex.__file__).parent / "tester" / "inkscape.extension.rng"]
        found = [s for s in schemas if s.exists()]
        self.assertTrue(found, "no Inkscape .inx schema found")
        for path, _effect in self.INX.values():
            inx = etree.parse(str(path))
            for schema in found:
                relax = etree.RelaxNG(etree.parse(str(schema)))
                self.assertTrue(relax.validate(inx), f"{path} {schema}: {relax.error_log}")

    def test_inx_parameters_match_the_scripts(self):
        from inkex.inx import InxFile

        for ident, (path, effect) in self.INX.items():
            inx = InxFile(str(path))
            self.assertEqual(inx.ident, ident)
            self.assertParams(inx, effect)

    def test_dialog_defaults_finish_within_their_own_timeout(self):
        # Automatic (Draft on a CPU) while waiting 1800 s; longer jobs are refused up front.
        path = self.INX["org.sketchify.image"][0]
        params = {p.get("name"): p for p in etree.parse(str(path)).iter(
            "{http://www.inkscape.org/namespace/inkscape/extension}param")}
        self.assertEqual(params["preset"][0].get("value"), "auto")  # the first is the default
        self.assertEqual(params["wait"].text, "true")
        self.assertEqual(params["timeout"].text, "1800")
        self.assertEqual(SketchifyImage().arg_parser.get_default("preset"), "auto")
        text = path.read_text(encoding="utf-8")
        self.assertIn("Automatic: Standard on a GPU, Draft on a CPU", text)
        self.assertNotIn("take minutes per image", text)

    def test_progress_window_under_a_display(self):
        # One process, two windows: Inkscape's dark theme, then its light one. Each shows a
        # thick stroke across the middle of a 200x100 photo.
        themes = {}
        for dark in (True, False):
            folder = Path(self.tempdir, f"profile-{dark}")
            folder.mkdir()
            (folder / "preferences.xml").write_text(
                '<?xml version="1.0"?>\n<inkscape version="1"><group id="theme" '
                f'gtkTheme="Adwaita" preferDarkTheme="{str(dark).lower()}"/></inkscape>\n',
                encoding="utf-8")
            themes[dark] = str(folder)
        photo = Path(self.tempdir, "photo.png")
        photo.write_bytes(png_bytes(200, 100, (200, 80, 40)))
        sketch = Path(self.tempdir, "sketch.svg")
        sketch.write_text('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 100">'
                          '<path d="M 0 50 C 60 50 140 50 200 50" stroke-width="20"/></svg>',
                          encoding="utf-8")
        script = textwrap.dedent(f"""
            import json, os, sys
            sys.path.insert(0, {str(EXT_DIR)!r})
            from sketchify_ink.progress import progress_window, _GtkProgress
            photo = open({str(photo)!r}, "rb").read()
            sketch = open({str(sketch)!r}, "rb").read()
            found = {{}}
            for dark, profile in (("dark", {themes[True]!r}), ("light", {themes[False]!r})):
                os.environ["INKSCAPE_PROFILE_DIR"] = profile
                with progress_window("Sketchify") as window:
                    assert isinstance(window, _GtkProgress), type(window)
                    window.show("cat.jpg: step 3 of 10", 0.3)
                    window.preview(photo, sketch)
                    window.wait(0.1)
                    assert not window.canceled
                    window.button.clicked()
                    window.wait(0.1)
                    assert window.canceled
                    pixbuf = window.picture.get_pixbuf()
                    data, stride = pixbuf.get_pixels(), pixbuf.get_rowstride()
                    channels = pixbuf.get_n_channels()
                    def at(x, y):
                        return list(data[y * stride + x * channels:][:3])
                    found[dark] = {{"size": [pixbuf.get_width(), pixbuf.get_height()],
                                   "colours": window.colours(),
                                   "stroke": at(160, 80), "photo": at(160, 20)}}
            print(json.dumps(found))
        """)
        result = subprocess.run(
            ["timeout", "60", *xvfb_run(), sys.executable, "-c", script],
            capture_output=True, text=True, timeout=90,
        )
        self.assertEqual(result.stderr, "", "the window must not print to stderr")
        found = json.loads(result.stdout)

        def rgb(colour: str) -> list[int]:
            return [int(colour[i:i + 2], 16) for i in (1, 3, 5)]

        def luminance(values: list[int]) -> float:
            return (0.2126 * values[0] + 0.7152 * values[1] + 0.0722 * values[2]) / 255

        for theme, seen in found.items():
            with self.subTest(theme=theme):
                ink, veil = (rgb(c) for c in seen["colours"])
                self.assertEqual(seen["size"], [320, 160])  # the photo's shape, 320 px wide
                if theme == "dark":
                    self.assertGreater(luminance(ink), 0.6)
                    self.assertLess(luminance(veil), 0.4)
                else:
                    self.assertLess(luminance(ink), 0.4)
                    self.assertGreater(luminance(veil), 0.6)
                for got, want in zip(seen["stroke"], ink, strict=True):
                    self.assertAlmostEqual(got, want, delta=8)
                for got, photo_c, veil_c in zip(seen["photo"], (200, 80, 40), veil,
                                                strict=True):
                    self.assertAlmostEqual(got, 0.4 * photo_c + 0.6 * veil_c, delta=8)


def test_the_extension_says_durations_in_the_server_s_words():
    """Inkscape's Python has no engine, so the extension keeps its own copy of the wording:
    it must say every duration exactly as the server does."""
    edges = [None, -1.0, math.nan, math.inf, 0.0, 0.49, 0.5, 1.0, 59.49, 59.5, 60.0, 89.9,
             3569.0, 3570.0, 3600.0, 5399.0, 35819.0, 35820.0, 35821.0, 3.0 * 86400]
    grid = [1.21**k / 10 for k in range(100)]
    for seconds in edges + grid:
        assert extension_about(seconds) == about(seconds), seconds

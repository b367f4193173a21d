"""The Inkscape extension under inkex.tester, against a stand-in backend on 127.0.0.1:
reading pixels, placing the strokes exactly on the image, and leaving the document untouched
on every failure."""

from __future__ import annotations

import base64
import contextlib
import io
import math
import os
import re
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import inkex
from extension_fixtures import StandInBackend, xvfb_run
from inkex.tester import TestCase
from inkex.tester.inx import InxMixin
from inkex.tester.mock import Capture
from lxml import etree
from PIL import Image

EXT_DIR = Path(__file__).resolve().parents[1] / "inkscape_ext"
sys.path.insert(0, str(EXT_DIR))

import sketchify_image  # noqa: E402
from sketchify_client import CANCEL_TIMEOUT, Backend  # noqa: E402
from sketchify_geometry import length  # noqa: E402
from sketchify_image import SketchifyImage  # noqa: E402
from sketchify_progress import Waiting  # noqa: E402

NUMBER = r"-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?"
ALIGNS = [f"x{h}Y{v}" for h in ("Min", "Mid", "Max") for v in ("Min", "Mid", "Max")]


def png_bytes(width: int, height: int, color=(200, 80, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


def data_uri(data: bytes) -> str:
    encoded = base64.b64encode(data).decode()
    # Wrapped like Inkscape does, to check whitespace in the payload is accepted.
    return "data:image/png;base64," + "\n".join(textwrap.wrap(encoded, 76))


def document(body: str, width="400", height="300", viewbox="0 0 400 300") -> str:
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'
        ' xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape"'
        ' xmlns:sodipodi="http://sodipodi.sourceforge.net/DTD/sodipodi-0.dtd"'
        f' width="{width}" height="{height}" viewBox="{viewbox}">{body}</svg>'
    )


def layer(body: str, ident="layer1", transform="") -> str:
    extra = f' transform="{transform}"' if transform else ""
    return (f'<g id="{ident}" inkscape:groupmode="layer" inkscape:label="Photo"{extra}>'
            f"{body}</g>")


def image(href: str, x=0, y=0, width=200, height=100, ident="img", extra="") -> str:
    return (f'<image id="{ident}" xlink:href="{href}" x="{x}" y="{y}" width="{width}" '
            f'height="{height}" {extra}/>')


def points(d: str) -> list[tuple[float, float]]:
    """The coordinates of an absolute ``M x y C ...`` path, as pairs."""
    assert re.fullmatch(rf"M[\s,]*(?:{NUMBER}[\s,]*){{2}}C[\s,]*(?:{NUMBER}[\s,]*)+", d.strip()), d
    values = [float(v) for v in re.findall(NUMBER, d)]
    return list(zip(values[0::2], values[1::2], strict=True))


def rotate_about_origin(angle_deg: float, x: float, y: float) -> tuple[float, float]:
    a = math.radians(angle_deg)
    return x * math.cos(a) - y * math.sin(a), x * math.sin(a) + y * math.cos(a)


@contextlib.contextmanager
def document_path(value: str | None):
    """inkex writes DOCUMENT_PATH into os.environ; keep each test's value to itself."""
    saved = os.environ.pop("DOCUMENT_PATH", None)
    if value is not None:
        os.environ["DOCUMENT_PATH"] = value
    try:
        yield
    finally:
        os.environ.pop("DOCUMENT_PATH", None)
        if saved is not None:
            os.environ["DOCUMENT_PATH"] = saved


class SketchifyCase(InxMixin, TestCase):
    effect_class = SketchifyImage
    backend: StandInBackend

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.backend = StandInBackend()

    @classmethod
    def tearDownClass(cls):
        cls.backend.close()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.backend.reset()

    def write(self, svg: str, name="doc.svg", folder: str | None = None) -> str:
        path = Path(folder or self.tempdir) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(svg, encoding="utf-8")
        return str(path)

    def args(self, ids=("img",), *extra: str) -> list[str]:
        return [*(f"--id={i}" for i in ids), f"--url={self.backend.url}", "--timeout=20",
                *extra]

    def sketch(self, doc: str, ids=("img",), *extra: str) -> inkex.SvgDocumentElement:
        """Run the extension as Inkscape would (no stray stdout/stderr allowed)."""
        effect = self.assertEffect(doc, args=self.args(ids, *extra))
        return inkex.load_svg(effect.test_output.getvalue()).getroot()

    def fails(self, doc: str, args: list[str], doc_path: str | None = None) -> str:
        """Run an extension that must abort: one message, nothing written, document as read."""
        before = etree.tostring(inkex.load_svg(doc))
        effect, output = SketchifyImage(), io.BytesIO()
        with document_path(doc_path or doc), Capture("stderr") as stderr, \
                self.assertRaises(SystemExit) as exit_:
            effect.run([doc, *args], output=output)
        self.assertNotEqual(exit_.exception.code, 0)
        self.assertEqual(output.getvalue(), b"", "a failed run must not write a document")
        self.assertEqual(etree.tostring(effect.document), before, "document was modified")
        message = stderr.getvalue().strip()
        self.assertEqual(len(message.splitlines()), 1, message)
        return message

    def sketch_layers(self, root) -> dict[str, inkex.Layer]:
        return {g.get("inkscape:label"): g for g in root.iterchildren(inkex.addNS("g", "svg"))
                if str(g.get("inkscape:label", "")).startswith("Sketch · ")}

    def assert_mapped(self, root, count: int, label: str, mapping, width_scale: float):
        """Every stroke of the layer is the backend's stroke pushed through ``mapping``."""
        (job,) = self.backend.jobs.values()
        source = etree.fromstring(job.svgs[count].encode())
        group = source[0]
        expected_width = float(group.get("stroke-width")) * width_scale
        sources = [p.get("d") for p in source.iter("{http://www.w3.org/2000/svg}path")]
        placed = self.sketch_layers(root)[f"Sketch · {count} strokes · {label}"]
        self.assertIsNone(placed.get("transform"))
        paths = list(placed)
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
                         {"Sketch · 4 strokes · img", "Sketch · 16 strokes · img"})
        self.assert_mapped(root, 16, "img", lambda x, y: (x, y), 1.0)

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
                         {"Sketch · 16 strokes · a.png", "Sketch · 16 strokes · b c.png"})

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

    def test_layers_sit_just_above_each_images_layer_in_count_order(self):
        uri = data_uri(png_bytes(120, 80))
        body = (layer(image(uri, ident="a", extra='inkscape:label="A"'), ident="L1")
                + layer('<rect width="5" height="5"/>', ident="L2")
                + image(uri, ident="b", x=150, extra='inkscape:label="B"'))
        root = self.sketch(self.write(document(body)), ("a", "b"), "--strokes_4=true",
                           "--strokes_other=8; 4")
        order = [el.get("inkscape:label") or el.get("id") for el in root]
        self.assertEqual(order, ["Photo", "Sketch · 4 strokes · A", "Sketch · 8 strokes · A",
                                 "Sketch · 16 strokes · A", "Photo", "B",
                                 "Sketch · 4 strokes · B", "Sketch · 8 strokes · B",
                                 "Sketch · 16 strokes · B"])
        for group in self.sketch_layers(root).values():
            self.assertEqual(group.get("inkscape:groupmode"), "layer")
            count = int(group.get("inkscape:label").split()[2])
            self.assertEqual(len(group), count)


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
        self.backend.behaviour.never_finishes = True
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

        @contextlib.contextmanager
        def window(_title):
            yield ClickedCancel()

        self.backend.behaviour.polls_until_done = 50
        original = sketchify_image.progress_window
        sketchify_image.progress_window = window
        try:
            message = self.fails(self.photo_doc(), self.args())
        finally:
            sketchify_image.progress_window = original
        self.assertIn("Canceled", message)
        (job,) = self.backend.jobs.values()
        self.assertTrue(job.canceled)


    def test_sketch_svg_arrives_as_the_exact_bytes_served(self):
        # image/svg+xml without a charset: no guessed decoding may touch non-ASCII text.
        backend = Backend(self.backend.url)
        try:
            job_id = backend.submit(png_bytes(40, 20), "p.png", {"strokes": "4"})["id"]
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


class TestInxAndWindow(SketchifyCase):
    INX = str(EXT_DIR / "sketchify_image.inx")

    def test_inx_validates_against_inkscape_schemas(self):
        schemas = [Path("/usr/share/inkscape/extensions/inkscape.extension.rng"),
                   Path(inkex.__file__).parent / "tester" / "inkscape.extension.rng"]
        found = [s for s in schemas if s.exists()]
        self.assertTrue(found, "no Inkscape .inx schema found")
        inx = etree.parse(self.INX)
        for schema in found:
            relax = etree.RelaxNG(etree.parse(str(schema)))
            self.assertTrue(relax.validate(inx), f"{schema}: {relax.error_log}")

    def test_inx_parameters_match_the_script(self):
        from inkex.inx import InxFile

        inx = InxFile(self.INX)
        self.assertEqual(inx.ident, "org.sketchify.image")
        self.assertParams(inx, SketchifyImage)

    def test_progress_window_under_a_display(self):
        script = textwrap.dedent(f"""
            import sys
            sys.path.insert(0, {str(EXT_DIR)!r})
            from sketchify_progress import progress_window, _GtkProgress
            with progress_window("Sketchify") as window:
                assert isinstance(window, _GtkProgress), type(window)
                window.show("cat.jpg: step 3 of 10", 0.3)
                window.wait(0.1)
                assert not window.canceled
                window.button.clicked()
                window.wait(0.1)
                assert window.canceled
            print("ok")
        """)
        result = subprocess.run(
            ["timeout", "60", *xvfb_run(), sys.executable, "-c", script],
            capture_output=True, text=True, timeout=90,
        )
        self.assertEqual(result.stdout.strip(), "ok", result.stderr)
        self.assertEqual(result.stderr, "", "the window must not print to stderr")

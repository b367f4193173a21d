"""What the extension's inkex.tester tests share: small documents built by hand, a stand-in
backend per test class, and running an extension as Inkscape would (nothing on stdout or
stderr, or exactly one message and the document untouched)."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import math
import os
import re
import sys
import textwrap
import warnings
from pathlib import Path

import inkex
from extension_fixtures import StandInBackend
from inkex.tester import TestCase
from inkex.tester.inx import InxMixin
from inkex.tester.mock import Capture
from lxml import etree
from PIL import Image

EXT_DIR = Path(__file__).resolve().parents[3] / "inkscape_ext"
sys.path.insert(0, str(EXT_DIR))

NUMBER = r"-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?"
SVG = "{http://www.w3.org/2000/svg}"
PATH_TAG = f"{SVG}path"
LABEL = "{http://www.inkscape.org/namespaces/inkscape}label"
SKETCHIFY = "{urn:sketchify-clipasso:inkscape}"


def png_bytes(width: int, height: int, color=(200, 80, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


def data_uri(data: bytes, mime: str = "image/png") -> str:
    encoded = base64.b64encode(data).decode()
    # Wrapped like Inkscape does, to check whitespace in the payload is accepted.
    return f"data:{mime};base64," + "\n".join(textwrap.wrap(encoded, 76))


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


def top_layers(root) -> dict[str, etree._Element]:
    """The root's layers by label."""
    return {g.get(LABEL): g for g in root.iterchildren(f"{SVG}g")
            if g.get("{http://www.inkscape.org/namespaces/inkscape}groupmode") == "layer"}


def with_pen(settings: str, pen: float) -> str:
    """Plot settings (JSON) with another pen."""
    return json.dumps({**json.loads(settings), "pen_mm": pen})


def visible(element) -> bool:
    return "display:none" not in (element.get("style") or "").replace(" ", "")


class ExtensionCase(InxMixin, TestCase):
    """Runs ``effect_class`` against a stand-in backend of its own."""

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

    def recorded_with_pen(self, doc: str, pen: float) -> None:
        """``doc`` and the stand-in's jobs as release 0.3.0 left them had the user asked this
        pen (its dialog took up to 20 mm, its backend any): every plot recorded with it."""
        root = inkex.load_svg(doc).getroot()
        for element in root.iter(f"{SVG}*"):
            for name in (f"{SKETCHIFY}plot", f"{SKETCHIFY}plotted"):
                if element.get(name):
                    element.set(name, with_pen(element.get(name), pen))
            if element.get(LABEL):
                element.set(LABEL, re.sub(rf"plot {NUMBER} mm", f"plot {pen:g} mm",
                                          element.get(LABEL)))
            if element.tag == f"{SVG}metadata" and '"pen_mm"' in (element.text or ""):
                record = json.loads(element.text)  # a plot layer's provenance
                element.text = json.dumps({**record, "plot": {**record["plot"], "pen_mm": pen}})
        Path(doc).write_bytes(etree.tostring(root))
        for job in self.backend.jobs.values():
            if "plot" in job.fields:
                job.fields["plot"] = with_pen(job.fields["plot"], pen)

    def write(self, svg: str, name="doc.svg", folder: str | None = None) -> str:
        path = Path(folder or self.tempdir) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(svg, encoding="utf-8")
        return str(path)

    def run_effect(self, effect_class, doc: str, args: list[str]) -> tuple[bytes, str]:
        """Run an extension as Inkscape would: the document it writes and its stderr. An
        inkex call deprecated in the newest inkex fails the test (Inkscape 1.2-1.4)."""
        effect, output = effect_class(), io.BytesIO()
        with document_path(doc), Capture("stderr") as stderr, warnings.catch_warnings():
            # inkex names itself in its deprecation messages ("inkex.elements... -> ...").
            warnings.filterwarnings("error", category=DeprecationWarning,
                                    message=r".*inkex.*")
            effect.run([doc, *args], output=output)
        return output.getvalue(), stderr.getvalue()

    def succeeds(self, effect_class, doc: str, args: list[str],
                 message: str = "") -> etree._Element:
        """A successful run's document, written over ``doc`` (Inkscape saves it, and the next
        run reads it back from the file). ``message``: text its one report must contain."""
        written, stderr = self.run_effect(effect_class, doc, args)
        if message:
            self.assertEqual(len(stderr.strip().splitlines()), 1, stderr)
            self.assertIn(message, stderr)
        else:
            self.assertEqual(stderr, "", "a successful run must not write to stderr")
        Path(doc).write_bytes(written)
        return inkex.load_svg(doc).getroot()

    def fails(self, effect_class, doc: str, args: list[str],
              doc_path: str | None = None) -> str:
        """Run an extension that must abort: one message, nothing written, document as read."""
        before = etree.tostring(inkex.load_svg(doc))
        effect, output = effect_class(), io.BytesIO()
        with document_path(doc_path or doc), Capture("stderr") as stderr, \
                self.assertRaises(SystemExit) as exit_:
            effect.run([doc, *args], output=output)
        self.assertNotEqual(exit_.exception.code, 0)
        self.assertEqual(output.getvalue(), b"", "a failed run must not write a document")
        self.assertEqual(etree.tostring(effect.document), before, "document was modified")
        message = stderr.getvalue().strip()
        self.assertEqual(len(message.splitlines()), 1, message)
        return message

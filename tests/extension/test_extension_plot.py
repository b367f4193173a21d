"""The "Plotter-ready" option against the stand-in backend (which plots with the backend's own
code): the job asks for the image's width on the page, the plot layer sits beside the editable
one with its strokes reordered and the pen's width in document units, waiting or after Update."""

from __future__ import annotations

import json
import math

import extension_cases as cases
import inkex
from extension_cases import SKETCHIFY, ExtensionCase, top_layers, visible
from lxml import etree
from sketchify_image import SketchifyImage
from sketchify_ink import plot as ink_plot
from sketchify_update import UpdateSketches

from sketchify.core.output import plot_settings

PX_PER_MM = 96 / 25.4
INX_NS = "http://www.inkscape.org/namespace/inkscape/extension"


def curves(group) -> list[list[tuple[float, float]]]:
    out = []
    for path in group.iter(cases.PATH_TAG):
        values = [float(v) for v in path.get("d").replace("M", " ").replace("C", " ").split()]
        out.append(list(zip(values[0::2], values[1::2], strict=True)))
    return out


class PlotCase(ExtensionCase):
    def photo(self) -> str:
        """A px document: a 200 x 100 px photo drawn 200 x 100 px, in a moved layer."""
        body = cases.image(cases.data_uri(cases.png_bytes(200, 100)), x=10, y=20,
                           extra='inkscape:label="Cat"')
        return self.write(cases.document(cases.layer(body, transform="translate(5,7)")))

    def assert_plot_layer(self, root, pen_mm: float, status: str = "") -> None:
        layers = {k: v for k, v in top_layers(root).items() if " strokes · " in k}
        editable, plot = layers["4 strokes · Cat"], layers[f"4 strokes · Cat · plot {pen_mm:g} mm"]
        self.assertFalse(visible(plot))
        sketch, ordered = curves(editable), curves(plot)
        self.assertEqual(len(ordered), 4)
        for curve in ordered:  # an editable stroke, maybe drawn from its other end
            self.assertTrue(any(
                all(math.dist(a, b) < 1e-3 for a, b in zip(way, other, strict=True))
                for other in sketch for way in (curve, curve[::-1])), curve)
        for path in plot.iter(cases.PATH_TAG):
            self.assertAlmostEqual(float(path.style["stroke-width"]), pen_mm * PX_PER_MM, 4)


class TestPlotterReady(PlotCase):
    def test_waiting_adds_a_hidden_plot_layer_beside_the_editable_one(self):
        doc = self.photo()
        root = self.succeeds(SketchifyImage, doc, [
            "--id=img", f"--url={self.backend.url}", "--strokes_4=true", "--strokes_16=false",
            "--plot=true", "--pen=0.3"])
        (job,) = self.backend.jobs.values()
        # The job asks for the photo as wide as it is on the page: 200 px = 52.917 mm.
        self.assertEqual(json.loads(job.fields["plot"]),
                         {"size_mm": round(200 / PX_PER_MM, 3), "pen_mm": 0.3, "margin_mm": 0.0})
        labels = list(top_layers(root))
        self.assertEqual(labels[-2:], ["4 strokes · Cat", "4 strokes · Cat · plot 0.3 mm"])
        self.assertTrue(visible(top_layers(root)["4 strokes · Cat"]))
        self.assert_plot_layer(root, 0.3)

    def test_without_the_option_nothing_asks_for_a_plot(self):
        doc = self.photo()
        root = self.succeeds(SketchifyImage, doc, [
            "--id=img", f"--url={self.backend.url}", "--strokes_4=true", "--strokes_16=false"])
        (job,) = self.backend.jobs.values()
        self.assertNotIn("plot", job.fields)
        self.assertEqual([k for k in top_layers(root) if "plot" in k], [])
        self.assertFalse(any("/plot" in path for _, path in self.backend.requests))

    def test_a_plot_placeholder_is_filled_by_update_sketches(self):
        doc = self.photo()
        self.succeeds(SketchifyImage, doc, [
            "--id=img", f"--url={self.backend.url}", "--strokes_4=true", "--strokes_16=false",
            "--plot=true", "--pen=0.7", "--wait=false"])
        placeholders = {k: v for k, v in top_layers(inkex.load_svg(doc).getroot()).items()
                        if " strokes · " in k}
        self.assertEqual(set(placeholders), {"4 strokes · Cat · queued",
                                             "4 strokes · Cat · plot 0.7 mm · queued"})
        plot = placeholders["4 strokes · Cat · plot 0.7 mm · queued"]
        self.assertEqual(json.loads(plot.get(f"{SKETCHIFY}plot"))["pen_mm"], 0.7)
        self.assertIsNone(placeholders["4 strokes · Cat · queued"].get(f"{SKETCHIFY}plot"))
        for job in self.backend.jobs.values():
            job.polls_until_done = 0
        root = self.succeeds(UpdateSketches, doc, [f"--url={self.backend.url}"])
        self.assert_plot_layer(root, 0.7)
        self.assertTrue(any("/plot?" in path for _, path in self.backend.requests))

    def test_a_placeholder_0_3_0_recorded_with_a_pen_now_refused_is_filled(self):
        # Update asks for the job already sent; the backend plots it with the pen it stored.
        for pen in (0.01, 20):
            self.backend.reset()
            doc = self.photo()
            self.succeeds(SketchifyImage, doc, [
                "--id=img", f"--url={self.backend.url}", "--strokes_4=true",
                "--strokes_16=false", "--plot=true", "--pen=0.7", "--wait=false"])
            self.recorded_with_pen(doc, pen)
            for job in self.backend.jobs.values():
                job.polls_until_done = 0
            self.backend.requests.clear()
            root = self.succeeds(UpdateSketches, doc, [f"--url={self.backend.url}"])
            self.assertEqual({method for method, _ in self.backend.requests}, {"GET"})
            self.assert_plot_layer(root, pen)

    def test_the_pen_limits_are_the_backends_own(self):
        pens = (ink_plot.MIN_PEN_MM, ink_plot.MAX_PEN_MM)
        self.assertEqual(pens, (plot_settings.MIN_PEN_MM, plot_settings.MAX_PEN_MM))
        inx = etree.parse(str(cases.EXT_DIR / "sketchify_image.inx"))
        pen = next(p for p in inx.iter(f"{{{INX_NS}}}param") if p.get("name") == "pen")
        self.assertEqual((float(pen.get("min")), float(pen.get("max"))), pens)

    def test_a_pen_of_no_width_is_refused(self):
        message = self.fails(SketchifyImage, self.photo(), [
            "--id=img", f"--url={self.backend.url}", "--plot=true", "--pen=0"])
        self.assertIn("pen width must be from 0.05 to 5 mm, got 0.", message)

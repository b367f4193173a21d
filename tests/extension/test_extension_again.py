"""Sketch again under inkex.tester: from a finished sketch layer, the same settings with a new
seed (the same start strokes, so the same kept strokes), or more strokes starting from the
layer's strokes as they are now (each kept or free, chosen in the dialog); the photo the layer
records, or a selected one for older layers; a drawn mask drawn again; the original layer never
changed; every refusal with one message, nothing sent and the document untouched."""

from __future__ import annotations

import json
import math
from pathlib import Path

import inkex
from extension_cases import (
    PATH_TAG,
    SKETCHIFY,
    ExtensionCase,
    data_uri,
    image,
    png_bytes,
    top_layers,
)
from lxml import etree
from path_samples import farthest, samples
from sketchify_again import SketchAgain
from sketchify_image import SketchifyImage
from sketchify_update import UpdateSketches
from test_extension_start import CLOSED, DRAWN, black, drawing

from sketchify.core.output import provenance

LAYER = "sketch16-img"
# A document with the layer release 0.1.0's extension made, by that release's own code.
RELEASE_010 = Path(__file__).resolve().parents[1] / "fixtures/release-0.1.0/inkscape-layer.svg"
DRAWN_IDS = ("line", "arc", "pencil")


class AgainCase(ExtensionCase):
    effect_class = SketchAgain

    def backend_args(self) -> list[str]:
        return [f"--url={self.backend.url}", "--timeout=20"]

    def first(self, *extra: str, keep=DRAWN_IDS, extra_doc="") -> str:
        """A document whose 16-stroke layer kept the three drawn paths."""
        doc = self.write(drawing(extra=extra_doc))
        self.succeeds(SketchifyImage, doc, [
            "--id=img", *(f"--id={i}" for i in keep), "--selected_paths=keep", "--seed=5",
            "--preset=draft", "--steps=30", *extra, *self.backend_args()])
        return doc

    def again(self, doc: str, ids=(LAYER,), *extra: str) -> etree._Element:
        return self.succeeds(SketchAgain, doc, [*(f"--id={i}" for i in ids), *extra,
                                                *self.backend_args()])

    def refused(self, doc: str, ids=(LAYER,), *extra: str) -> str:
        self.backend.requests.clear()
        message = self.fails(SketchAgain, doc, [*(f"--id={i}" for i in ids), *extra,
                                                *self.backend_args()])
        self.assertEqual([m for m, _ in self.backend.requests], [], "nothing may be sent")
        return message

    def last_job(self):
        return list(self.backend.jobs.values())[-1]

    def layers(self, root) -> list[etree._Element]:
        return [g for name, g in top_layers(root).items() if " strokes · " in name]


class TestSameWithANewSeed(AgainCase):
    def test_same_settings_and_start_a_new_seed_and_a_new_layer_above(self):
        doc = self.first()
        before = etree.tostring(inkex.load_svg(doc).getroot().getElementById(LAYER))
        first_job = self.last_job()
        root = self.again(doc)
        job = self.last_job()
        self.assertIsNot(job, first_job)
        self.assertEqual(job.fields, {
            "strokes": "16", "preset": "draft", "steps": "30", "seeds": "1", "width": "3.0",
            "precision": "fp32", "mask": "none", "seed": "6",  # 5 tried by the first
            "start": first_job.fields["start"]})
        original = root.getElementById(LAYER)
        self.assertEqual(etree.tostring(original), before, "the layer itself never changes")
        new = original.getnext()  # just above it
        self.assertEqual(new.get("{http://www.inkscape.org/namespaces/inkscape}label"),
                         "16 strokes · img")
        self.assertEqual(new.get(f"{SKETCHIFY}image"), "img")
        kept = list(new.iter(PATH_TAG))[:3]
        for path, then, name in zip(kept, list(original.iter(PATH_TAG))[:3], DRAWN_IDS,
                                    strict=True):
            self.assertEqual(path.get("d"), then.get("d"))
            self.assertEqual(path.get("style"), then.get("style"))
            d, to_root = DRAWN[name]
            self.assertLess(farthest(samples(path.get("d")), samples(d, to_root)), 0.01)

    def test_each_run_tries_a_seed_no_sketch_in_the_document_tried(self):
        doc = self.first()
        self.again(doc)
        self.again(doc)
        self.assertEqual([j.fields["seed"] for j in self.backend.jobs.values()],
                         ["5", "6", "7"])

    def test_the_current_layer_when_nothing_is_selected(self):
        doc = self.first()
        root = inkex.load_svg(doc).getroot()
        root.namedview.set("inkscape:current-layer", LAYER)
        root.getroottree().write(doc)
        self.again(doc, ())
        self.assertEqual(len(self.backend.jobs), 2)

    def test_without_waiting_the_placeholder_remembers_the_start(self):
        doc = self.first()
        root = self.again(doc, (LAYER,), "--wait=false")
        placeholder = root.getElementById(LAYER).getnext()
        self.assertEqual(placeholder.get(f"{SKETCHIFY}status"), "queued")
        sent = json.loads(self.last_job().fields["start"])
        remembered = json.loads(placeholder.get(f"{SKETCHIFY}start"))
        self.assertEqual([{"d": r["d"], "locked": r["locked"]} for r in remembered], sent)
        for job in self.backend.jobs.values():
            job.polls_until_done = 0
        root = self.succeeds(UpdateSketches, doc, [f"--url={self.backend.url}"])
        filled = list(root.getElementById(LAYER).getnext().iter(PATH_TAG))
        self.assertEqual(len(filled), 16)
        d, to_root = DRAWN["pencil"]
        self.assertLess(farthest(samples(filled[2].get("d")), samples(d, to_root)), 0.01)


class TestMoreStrokes(AgainCase):
    def layer_paths(self, doc: str) -> list[etree._Element]:
        return list(inkex.load_svg(doc).getroot().getElementById(LAYER).iter(PATH_TAG))

    def test_all_kept_as_they_are_now(self):
        doc = self.first()
        tree = inkex.load_svg(doc)
        moved = list(tree.getroot().getElementById(LAYER).iter(PATH_TAG))[5]
        moved.set("transform", "translate(3,1)")  # the user moved one stroke by hand
        tree.write(doc)
        root = self.again(doc, (LAYER,), "--again=more", "--strokes=24")
        job = self.last_job()
        sent = json.loads(job.fields["start"])
        self.assertEqual((job.fields["strokes"], job.fields["seed"]), ("24", "5"))
        self.assertEqual([s["locked"] for s in sent], [True] * 16)
        new = list(root.getElementById(LAYER).getnext().iter(PATH_TAG))
        self.assertEqual(len(new), 24)
        for path, then in zip(new, self.layer_paths(doc), strict=False):
            to_root = inkex.Transform(then.get("transform"))
            self.assertLess(farthest(samples(path.get("d")),
                                     samples(then.get("d"), to_root)), 0.01)
            self.assertEqual(inkex.Style(path.get("style"))["stroke"],
                             inkex.Style(then.get("style"))["stroke"])

    def test_kept_if_selected_free_otherwise(self):
        doc = self.first()
        tree = inkex.load_svg(doc)
        for number, path in enumerate(tree.getroot().getElementById(LAYER).iter(PATH_TAG)):
            path.set("id", f"s{number}")
        tree.write(doc)
        root = self.again(doc, ("s0", "s7"), "--again=more", "--strokes=20",
                          "--layer_strokes=selected")
        sent = json.loads(self.last_job().fields["start"])
        self.assertEqual([n for n, s in enumerate(sent) if s["locked"]], [0, 7])
        new = list(root.getElementById(LAYER).getnext().iter(PATH_TAG))
        self.assertEqual(inkex.Style(new[0].get("style"))["stroke"], "#c00000")
        self.assertTrue(black(new[1]))  # a kept stroke set free: the backend's own now

    def test_all_free(self):
        doc = self.first()
        self.again(doc, (LAYER,), "--again=more", "--strokes=16", "--layer_strokes=free")
        sent = json.loads(self.last_job().fields["start"])
        self.assertEqual([s["locked"] for s in sent], [False] * 16)


class TestOlderLayersAndMasks(AgainCase):
    def test_a_layer_without_its_photo_recorded_needs_the_photo_selected(self):
        doc = self.first()
        tree = inkex.load_svg(doc)
        del tree.getroot().getElementById(LAYER).attrib[f"{SKETCHIFY}image"]
        tree.write(doc)
        message = self.refused(doc)
        self.assertIn("made before Sketchify recorded its photo: select the photo too", message)
        self.again(doc, (LAYER, "img"))
        self.assertEqual(len(self.backend.jobs), 2)

    def test_a_drawn_mask_is_drawn_again_from_a_selected_outline(self):
        outline = f'<path id="outline" d="{CLOSED}"/>'
        doc = self.write(drawing(extra=outline))
        self.succeeds(SketchifyImage, doc, ["--id=img", "--id=outline",
                                            *self.backend_args()])
        first = self.last_job()
        self.assertIsNotNone(first.mask)
        message = self.refused(doc)
        self.assertIn("sketched with a mask drawn in the document", message)
        self.again(doc, (LAYER, "outline"))
        self.assertEqual(self.last_job().mask, first.mask)

    def test_a_drawn_mask_is_drawn_again_from_the_photos_clip_path(self):
        clip = ('<defs><clipPath id="cut"><path d="M 20 25 L 90 22 L 70 66 Z"/></clipPath>'
                '</defs>')
        doc = self.write(drawing().replace('transform="rotate(30)"/>',
                                           'transform="rotate(30)" clip-path="url(#cut)"/>', 1)
                         .replace('<g id="layer1"', clip + '<g id="layer1"', 1))
        self.succeeds(SketchifyImage, doc, ["--id=img", *self.backend_args()])
        first = self.last_job()
        self.again(doc)
        self.assertEqual(self.last_job().mask, first.mask)
        self.assertIsNotNone(first.mask)


class TestRefusals(AgainCase):
    def test_nothing_of_a_sketch_layer_selected(self):
        doc = self.first()
        self.assertIn("No sketch layer is selected", self.refused(doc, ("img",)))

    def test_two_sketch_layers(self):
        doc = self.first("--strokes_8=true")
        message = self.refused(doc, (LAYER, "sketch8-img"))
        self.assertIn("spans two sketch layers", message)

    def test_a_placeholder_not_yet_done(self):
        doc = self.first("--wait=false")
        self.assertIn("has no sketch (queued): collect it with", self.refused(doc))

    def test_a_placeholder_that_failed_was_canceled_or_expired(self):
        doc = self.first("--wait=false")
        for status, says in (("failed", "its job failed"), ("canceled", "its job was canceled"),
                             ("expired", "the backend no longer has its job")):
            tree = inkex.load_svg(doc)
            tree.getroot().getElementById(LAYER).set(f"{SKETCHIFY}status", status)
            tree.write(doc)
            message = self.refused(doc)
            self.assertIn(f"has no sketch ({status}): {says}", message)
            self.assertNotIn("Update sketches", message)

    def test_a_layer_without_provenance(self):
        doc = self.first()
        tree = inkex.load_svg(doc)
        layer = tree.getroot().getElementById(LAYER)
        (metadata,) = layer.iterchildren("{http://www.w3.org/2000/svg}metadata")
        metadata.text = "not json"
        tree.write(doc)
        self.assertIn("holds no record of how it was sketched", self.refused(doc))

    def test_a_layer_whose_record_was_removed(self):
        doc = self.first()
        tree = inkex.load_svg(doc)
        layer = tree.getroot().getElementById(LAYER)
        (metadata,) = layer.iterchildren("{http://www.w3.org/2000/svg}metadata")
        layer.remove(metadata)
        tree.write(doc)
        message = self.refused(doc)
        self.assertIn(f"The layer {layer.label!r} holds no record of its settings (its "
                      "metadata was removed, or an older Sketchify made it)", message)
        self.assertNotIn("was made by an older", message)

    def test_a_layer_made_by_sketchify_0_1_0(self):
        doc = self.write(RELEASE_010.read_text(encoding="utf-8"))
        root = inkex.load_svg(doc).getroot()
        root.namedview.set("inkscape:current-layer", "sketch8-cat")
        next(root.getElementById("sketch8-cat").iter(PATH_TAG)).set("id", "path1")  # as Inkscape
        root.getroottree().write(doc)
        for ids in (("path1",), ("sketch8-cat", "cat"), ()):
            message = self.refused(doc, ids)
            self.assertIn("The layer 'Sketch · 8 strokes · cat' was made by an older "
                          "Sketchify, which kept no record of its settings in it", message)

    def test_a_provenance_record_of_a_newer_format(self):
        doc = self.first()
        tree = inkex.load_svg(doc)
        (metadata,) = tree.getroot().getElementById(LAYER).iterchildren(
            "{http://www.w3.org/2000/svg}metadata")
        record = json.loads(metadata.text)
        self.assertEqual(record["format"], provenance.FORMAT)
        metadata.text = json.dumps({**record, "format": provenance.FORMAT + 1})
        tree.write(doc)
        self.assertIn(f"newer Sketchify backend (provenance format {provenance.FORMAT + 1}; "
                      f"this extension reads format {provenance.FORMAT} or older)",
                      self.refused(doc))

    def test_the_recorded_photo_is_gone(self):
        doc = self.first()
        tree = inkex.load_svg(doc)
        photo = tree.getroot().getElementById("img")
        photo.getparent().remove(photo)
        tree.write(doc)
        self.assertIn("(id img) is no longer in the document", self.refused(doc))

    def test_two_photos_selected(self):
        second = ('<image id="img2" x="0" y="0" width="5" height="5" '
                  'xlink:href="data:image/png;base64,AAAA"/>')
        doc = self.first(extra_doc=second)
        self.assertIn("2 images are selected", self.refused(doc, (LAYER, "img", "img2")))

    def test_fewer_strokes_than_the_layer_has(self):
        doc = self.first()
        message = self.refused(doc, (LAYER,), "--again=more", "--strokes=12")
        self.assertIn("has 16 strokes, more than the 12 asked for", message)

    def test_kept_if_selected_with_no_stroke_selected(self):
        doc = self.first()
        message = self.refused(doc, (LAYER,), "--again=more", "--layer_strokes=selected")
        self.assertIn("no stroke of the layer", message)

    def test_another_photo_selected_for_a_recorded_start(self):
        second = image(data_uri(png_bytes(50, 50)), x=0, y=300, width=50, height=50,
                       ident="img2")
        doc = self.first(extra_doc=second)
        message = self.refused(doc, (LAYER, "img2"))
        self.assertIn("was sketched from the photo 'img' with start strokes in its pixels, but "
                      "'img2' is selected", message)

    def test_the_recorded_photo_selected_for_a_recorded_start(self):
        doc = self.first()
        self.again(doc, (LAYER, "img"))
        self.assertEqual(len(self.backend.jobs), 2)

    def test_a_layer_with_no_strokes_left(self):
        doc = self.first()
        tree = inkex.load_svg(doc)
        for path in list(tree.getroot().getElementById(LAYER).iter(PATH_TAG)):
            path.getparent().remove(path)
        tree.write(doc)
        message = self.refused(doc, (LAYER,), "--again=more")
        self.assertIn("The layer '16 strokes · img' has no strokes to start from", message)

    def test_a_damaged_start_record(self):
        doc = self.first()
        tree = inkex.load_svg(doc)
        tree.getroot().getElementById(LAYER).set(f"{SKETCHIFY}start", "[{")
        tree.write(doc)
        self.assertIn("sketchify:start cannot be read", self.refused(doc))


def same_curve(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    """How far apart two sampled paths are, either drawn from either end (a plotter may
    reverse a stroke; its geometry stays)."""
    if len(a) != len(b):
        return float("inf")
    return max(max(min(math.dist(p, q) for q in b) for p in a),
               max(min(math.dist(p, q) for q in a) for p in b))


class TestPlotterReadyWithKeptStrokes(AgainCase):
    def plot_layer(self, root) -> etree._Element:
        (plot,) = [g for name, g in top_layers(root).items() if " · plot 0.4 mm" in name]
        return plot

    def test_the_plot_layer_holds_the_kept_strokes_whole_at_the_pen_width(self):
        root = inkex.load_svg(self.first("--plot=true", "--pen=0.4")).getroot()
        plot = list(self.plot_layer(root).iter(PATH_TAG))
        self.assertEqual(len(plot), 16)
        pen = 0.4 * 96 / 25.4
        for path in plot:
            self.assertAlmostEqual(float(inkex.Style(path.get("style"))["stroke-width"]), pen, 4)
        for name in DRAWN_IDS:
            d, to_root = DRAWN[name]
            drawn = samples(d, to_root)
            self.assertLess(min(same_curve(samples(p.get("d")), drawn) for p in plot), 0.01,
                            name)

    def test_sketch_again_asks_for_the_plot_the_first_job_asked(self):
        doc = self.first("--plot=true", "--pen=0.4")
        first_job = self.last_job()
        root = self.again(doc)
        self.assertEqual(json.loads(self.last_job().fields["plot"]),
                         json.loads(first_job.fields["plot"]))
        new = root.getElementById(LAYER).getnext()
        self.assertEqual(new.get("{http://www.inkscape.org/namespaces/inkscape}label"),
                         "16 strokes · img")
        self.assertEqual(len(list(new.getnext().iter(PATH_TAG))), 16)
        self.assertIn(" · plot 0.4 mm", new.getnext().get(
            "{http://www.inkscape.org/namespaces/inkscape}label"))

    def test_sketch_again_from_a_placeholder_made_layer_asks_for_the_plot_too(self):
        doc = self.write(drawing())
        self.succeeds(SketchifyImage, doc, [
            "--id=img", *(f"--id={i}" for i in DRAWN_IDS), "--selected_paths=keep",
            "--plot=true", "--pen=0.4", "--wait=false", *self.backend_args()])
        for job in self.backend.jobs.values():
            job.polls_until_done = 0
        self.succeeds(UpdateSketches, doc, [f"--url={self.backend.url}"])
        first_job = self.last_job()
        self.again(doc)
        self.assertEqual(self.last_job().fields["plot"], first_job.fields["plot"])

    def test_a_pen_0_3_0_took_but_the_backend_now_refuses_is_named_before_sending(self):
        # 0.3.0's dialog took pens up to 20 mm; a new job with one would be a 422.
        doc = self.first("--plot=true", "--pen=0.4")
        self.recorded_with_pen(doc, 20)
        root = inkex.load_svg(doc).getroot()
        (plot,) = [g.get("id") for name, g in top_layers(root).items() if " · plot " in name]
        for layer in (LAYER, plot):  # the editable layer remembers its plot layer's settings
            message = self.refused(doc, (layer,))
            self.assertIn("with a 20 mm pen, and the backend now takes pens from 0.05 to 5 "
                          "mm", message)
            self.assertIn("Nothing was changed.", message)

    def test_without_plot_sketch_again_asks_none(self):
        self.again(self.first())
        self.assertNotIn("plot", self.last_job().fields)


class TestSeedsWithoutWaiting(AgainCase):
    def test_two_runs_without_waiting_try_two_new_seeds(self):
        doc = self.first()
        root = self.again(doc, (LAYER,), "--wait=false")
        placeholder = root.getElementById(LAYER).getnext()
        self.assertEqual((placeholder.get(f"{SKETCHIFY}seed"),
                          placeholder.get(f"{SKETCHIFY}seeds")), ("6", "1"))
        self.again(doc, (LAYER,), "--wait=false")
        self.assertEqual([j.fields["seed"] for j in self.backend.jobs.values()],
                         ["5", "6", "7"])

    def test_an_unfilled_placeholder_of_sketchify_image_counts_its_seeds(self):
        doc = self.first()  # seed 5, filled
        self.succeeds(SketchifyImage, doc, [
            "--id=img", "--seed=9", "--preset=draft", "--wait=false", *self.backend_args()])
        self.again(doc)
        self.assertEqual([j.fields["seed"] for j in self.backend.jobs.values()],
                         ["5", "9", "10"])

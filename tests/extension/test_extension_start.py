"""Start strokes in Sketchify image…: the Sketch tab's choice of what selected paths over a
photo are (its outline, start strokes to refine, strokes to keep), the paths mapped into the
photo's pixels through every transform and sent as `start`, the kept ones placed in the
sketch layer where and as they were drawn, placeholders that remember the start (format 2),
and every refusal with one message and the document untouched."""

from __future__ import annotations

import json

import inkex
from extension_cases import (
    PATH_TAG,
    SKETCHIFY,
    ExtensionCase,
    data_uri,
    document,
    image,
    png_bytes,
    top_layers,
)
from lxml import etree
from path_samples import farthest, samples
from sketchify_image import SketchifyImage
from sketchify_ink.start import Given, keep_styles
from sketchify_update import UpdateSketches

# The photo: 200x100 px in a 100x50 box at (10, 20), rotated 30°, in a layer moved by (5, 7).
PHOTO_LAYER = inkex.Transform(translate=(5, 7))
PHOTO = (PHOTO_LAYER @ inkex.Transform(rotate=30) @ inkex.Transform(translate=(10, 20))
         @ inkex.Transform(scale=0.5))
INK_LAYER = inkex.Transform("translate(-3,4) scale(0.5)")
# Two strokes beside the photo, drawn rotated like it: a line (with an H) and an arc.
LINE = "M 30 30 L 90 60 H 100"
ARC = "m 40 45 a 15 8 20 0 1 40 5"
OWN = inkex.Transform("rotate(30)")


def in_ink(*pixels: tuple[float, float]) -> list[str]:
    """Points of the photo's pixels in the ink layer's units, as path data writes them."""
    to_ink = -INK_LAYER @ PHOTO
    return [f"{x:.4f} {y:.4f}" for x, y in (to_ink.apply_to_point(p) for p in pixels)]


def pencil() -> str:
    """A pencil-like stroke of two cubics and a second subpath, in the ink layer's units,
    drawn over the photo's pixels (120, 30) .. (170, 80)."""
    text = in_ink((120, 30), (130, 20), (150, 40), (160, 50), (165, 60), (170, 70), (170, 80),
                  (140, 70), (150, 75))
    return (f"M {text[0]} C {text[1]} {text[2]} {text[3]} C {text[4]} {text[5]} {text[6]} "
            f"M {text[7]} L {text[8]}")


PENCIL = pencil()
CLOSED = "M {} L {} L {} Z".format(*in_ink((40, 20), (160, 30), (100, 90)))
# Each drawn path: its data and what carries it into root user units.
DRAWN = {"line": (LINE, PHOTO_LAYER @ OWN), "arc": (ARC, PHOTO_LAYER @ OWN),
         "pencil": (PENCIL, INK_LAYER)}


def drawing(*, wait=True, extra="") -> str:
    photo = image(data_uri(png_bytes(200, 100)), x=10, y=20, width=100, height=50,
                  extra='transform="rotate(30)"')
    strokes = (f'<path id="line" d="{LINE}" transform="rotate(30)" '
               'style="fill:none;stroke:#c00000;stroke-width:2"/>'
               f'<path id="arc" d="{ARC}" transform="rotate(30)" '
               'style="fill:none;stroke:#00a000;stroke-width:1.5;stroke-dasharray:none"/>')
    return document(
        f'<g id="layer1" inkscape:groupmode="layer" inkscape:label="Photo" '
        f'transform="translate(5,7)">{photo}{strokes}</g>'
        '<g id="ink" inkscape:groupmode="layer" inkscape:label="Ink" '
        'transform="translate(-3,4) scale(0.5)" style="stroke:#0000ff">'
        f'<path id="pencil" d="{PENCIL}" style="fill:none;stroke-width:4"/>{extra}</g>')


def black(path) -> bool:
    """Drawn in the backend's own colour, not a kept stroke's."""
    return inkex.Style(path.get("style"))["stroke"] in ("#000", "#000000")


class StartCase(ExtensionCase):
    effect_class = SketchifyImage

    def args(self, ids, *extra: str) -> list[str]:
        return [*(f"--id={i}" for i in ids), f"--url={self.backend.url}", "--timeout=20",
                *extra]

    def sent_start(self) -> list[dict]:
        (job,) = self.backend.jobs.values()
        return json.loads(job.fields["start"])

    def sketch_layer(self, root, count=16) -> etree._Element:
        (found,) = [g for name, g in top_layers(root).items()
                    if name.startswith(f"{count} strokes · ")]
        return found


class TestTheDialogChoice(StartCase):
    def test_the_default_reads_a_selected_closed_path_as_the_outline(self):
        doc = self.write(drawing(extra=f'<path id="outline" d="{CLOSED}"/>'))
        self.succeeds(SketchifyImage, doc, self.args(("img", "outline")))
        (job,) = self.backend.jobs.values()
        self.assertIsNotNone(job.mask)
        self.assertNotIn("start", job.fields)

    def test_with_a_start_choice_no_path_is_an_outline(self):
        for choice, locked in (("start", False), ("keep", True)):
            with self.subTest(choice=choice):
                self.backend.reset()
                doc = self.write(drawing(extra=f'<path id="outline" d="{CLOSED}"/>'),
                                 f"{choice}.svg")
                self.succeeds(SketchifyImage, doc, self.args(
                    ("img", "outline"), f"--selected_paths={choice}"))
                (job,) = self.backend.jobs.values()
                self.assertIsNone(job.mask)
                (sent,) = self.sent_start()
                self.assertEqual(sent["locked"], locked)
                expected = samples(CLOSED, -PHOTO @ INK_LAYER)
                self.assertLess(farthest(samples(sent["d"]), expected), 1e-5)

    def test_the_images_clip_path_is_still_its_mask(self):
        clip = ('<defs><clipPath id="cut"><path d="M 20 25 L 90 22 L 70 66 Z"/></clipPath>'
                '</defs>')
        doc = self.write(drawing().replace('transform="rotate(30)"/>',
                                           'transform="rotate(30)" clip-path="url(#cut)"/>', 1)
                         .replace("<g id=\"layer1\"", clip + "<g id=\"layer1\"", 1))
        self.succeeds(SketchifyImage, doc, self.args(("img", "line"),
                                                     "--selected_paths=start"))
        (job,) = self.backend.jobs.values()
        self.assertIsNotNone(job.mask)
        self.assertEqual(len(self.sent_start()), 1)


class TestStrokesInThePhotosPixels(StartCase):
    def test_lines_arcs_subpaths_and_any_transform_map_into_pixels(self):
        doc = self.write(drawing())
        self.succeeds(SketchifyImage, doc, self.args(
            ("img", "line", "arc", "pencil"), "--selected_paths=keep"))
        sent = self.sent_start()
        self.assertEqual([s["locked"] for s in sent], [True] * 3)
        for item, name in zip(sent, ("line", "arc", "pencil"), strict=True):
            d, to_root = DRAWN[name]
            self.assertLess(farthest(samples(item["d"]), samples(d, -PHOTO @ to_root)), 1e-5,
                            name)
        self.assertIn(" A ", sent[1]["d"])  # an arc stays an arc
        self.assertEqual(sent[2]["d"].count("M "), 2)  # two subpaths, one stroke

    @staticmethod
    def powered(effect: str = "powerstroke") -> tuple[str, str, str]:
        """As Power stroke leaves a path: the drawn line in inkscape:original-d, the outline it
        draws in d; the line, the outline and the elements."""
        line = "M {} L {}".format(*in_ink((40, 40), (160, 70)))
        outline = "M {} L {} L {} L {} Z".format(*in_ink((40, 36), (160, 66), (160, 74),
                                                         (40, 44)))
        return line, outline, (f'<defs><inkscape:path-effect id="power" effect="{effect}"/>'
                               f'</defs><path id="powered" d="{outline}" '
                               f'inkscape:original-d="{line}" inkscape:path-effect="#power" '
                               'style="fill:#000000;stroke:none"/>')

    def test_a_bspline_path_sends_the_curve_it_shows_not_its_control_polygon(self):
        # BSpline keeps its control polygon in original-d and the curve it draws in d.
        _, shown, element = self.powered("bspline")
        doc = self.write(drawing(extra=element))
        self.succeeds(SketchifyImage, doc, self.args(("img", "powered"),
                                                     "--selected_paths=start"))
        (sent,) = self.sent_start()
        self.assertLess(farthest(samples(sent["d"]), samples(shown, -PHOTO @ INK_LAYER)), 1e-5)

    def test_a_path_effect_to_refine_sends_the_line_drawn_not_the_outline_it_draws(self):
        line, _, powered = self.powered()
        doc = self.write(drawing(extra=powered))
        self.succeeds(SketchifyImage, doc, self.args(("img", "powered"),
                                                     "--selected_paths=start"))
        (sent,) = self.sent_start()
        self.assertLess(farthest(samples(sent["d"]), samples(line, -PHOTO @ INK_LAYER)), 1e-5)

    def test_a_kept_path_effect_stays_as_it_shows(self):
        # The filled outline, not the line (filled and open, a line shows nothing).
        _, outline, powered = self.powered()
        doc = self.write(drawing(extra=powered))
        root = self.succeeds(SketchifyImage, doc, self.args(("img", "powered"),
                                                            "--selected_paths=keep"))
        (sent,) = self.sent_start()
        self.assertLess(farthest(samples(sent["d"]), samples(outline, -PHOTO @ INK_LAYER)),
                        1e-5)
        kept = next(iter(self.sketch_layer(root, 16).iter(PATH_TAG)))
        self.assertEqual(inkex.Style(kept.get("style"))["fill"], "#000000")

    def kept_style(self, style: str) -> inkex.Style:
        """The style a fourth kept stroke, drawn in the ink layer (scale 0.5) with ``style``,
        gets in the sketch layer."""
        doc = self.write(drawing(extra='<path id="fourth" d="M {} L {}" style="{}"/>'.format(
            *in_ink((40, 40), (80, 60)), style)))
        root = self.succeeds(SketchifyImage, doc, self.args(
            ("img", "line", "arc", "pencil", "fourth"), "--selected_paths=keep"))
        return inkex.Style(list(self.sketch_layer(root, 16).iter(PATH_TAG))[3].get("style"))

    def test_a_kept_stroke_leaves_its_clip_mask_and_filter_behind(self):
        style = self.kept_style("fill:none;stroke:#123456;stroke-width:3;clip-path:url(#c);"
                                "mask:url(#m);filter:url(#f)")
        self.assertEqual(style["stroke"], "#123456")
        for key in ("clip-path", "mask", "filter"):
            self.assertNotIn(key, style)

    def test_a_kept_strokes_dashes_scale_with_its_width(self):
        style = self.kept_style("fill:none;stroke-width:3;stroke-dasharray:4, 2;"
                                "stroke-dashoffset:1")
        # 3 -> 1.5 wide, dashes 4, 2 -> 2, 1, offset 1 -> 0.5.
        self.assertEqual((style["stroke-width"], style["stroke-dasharray"],
                          style["stroke-dashoffset"]), ("1.5", "2,1", "0.5"))

    def test_kept_strokes_stand_where_and_as_they_were_drawn(self):
        doc = self.write(drawing())
        before = {i: etree.tostring(inkex.load_svg(doc).getroot().getElementById(i))
                  for i in ("line", "arc", "pencil")}
        root = self.succeeds(SketchifyImage, doc, self.args(
            ("img", "line", "arc", "pencil"), "--selected_paths=keep", "--strokes_8=true"))
        for count in (8, 16):
            layer = self.sketch_layer(root, count)
            paths = list(layer.iter(PATH_TAG))
            self.assertEqual(len(paths), count)
            for path, name in zip(paths, ("line", "arc", "pencil"), strict=False):
                d, to_root = DRAWN[name]
                self.assertLess(farthest(samples(path.get("d")), samples(d, to_root)), 0.01)
            styles = [inkex.Style(p.get("style")) for p in paths[:3]]
            self.assertEqual([s["stroke"] for s in styles], ["#c00000", "#00a000", "#0000ff"])
            self.assertEqual([float(s["stroke-width"]) for s in styles], [2, 1.5, 2])
            self.assertEqual(styles[1]["stroke-dasharray"], "none")
            for path in paths[3:]:  # the new strokes: the backend's own
                self.assertTrue(black(path))
            self.assertEqual(layer.get(f"{SKETCHIFY}image"), "img")
            remembered = json.loads(layer.get(f"{SKETCHIFY}start"))
            self.assertEqual([{"d": r["d"], "locked": r["locked"]} for r in remembered],
                             self.sent_start())
        for ident, text in before.items():  # the drawn originals, untouched
            self.assertEqual(etree.tostring(root.getElementById(ident)), text)

    def test_free_start_strokes_become_the_sketchs_own(self):
        doc = self.write(drawing())
        root = self.succeeds(SketchifyImage, doc, self.args(
            ("img", "pencil", "line"), "--selected_paths=start"))
        sent = self.sent_start()
        self.assertEqual([s["locked"] for s in sent], [False, False])  # selection order
        self.assertLess(farthest(samples(sent[0]["d"]), samples(PENCIL, -PHOTO @ INK_LAYER)),
                        1e-5)
        for path in list(self.sketch_layer(root).iter(PATH_TAG))[:2]:
            self.assertTrue(black(path))

    def test_strokes_inside_a_selected_group_count_one_each(self):
        doc = self.write(drawing().replace(
            '<path id="line"', '<g id="mine"><path id="line"').replace(
            'stroke-dasharray:none"/>', 'stroke-dasharray:none"/></g>'))
        self.succeeds(SketchifyImage, doc, self.args(("img", "mine"), "--selected_paths=keep"))
        self.assertEqual(len(self.sent_start()), 2)


class TestPlaceholdersRememberTheStart(StartCase):
    def update(self, doc: str):
        for job in self.backend.jobs.values():
            job.polls_until_done = 0  # the next status poll answers "done"
        return self.succeeds(UpdateSketches, doc, [f"--url={self.backend.url}"])

    def test_wait_off_then_update_places_the_kept_strokes(self):
        doc = self.write(drawing())
        root = self.succeeds(SketchifyImage, doc, self.args(
            ("img", "line", "arc", "pencil"), "--selected_paths=keep", "--wait=false"))
        layer = self.sketch_layer(root)
        self.assertEqual(layer.get(f"{SKETCHIFY}format"), "2")
        remembered = json.loads(layer.get(f"{SKETCHIFY}start"))
        self.assertEqual([{"d": r["d"], "locked": r["locked"]} for r in remembered],
                         self.sent_start())
        root = self.update(doc)
        paths = list(self.sketch_layer(root).iter(PATH_TAG))
        self.assertEqual(len(paths), 16)
        for path, name in zip(paths, ("line", "arc", "pencil"), strict=False):
            d, to_root = DRAWN[name]
            self.assertLess(farthest(samples(path.get("d")), samples(d, to_root)), 0.01)
        self.assertEqual(inkex.Style(paths[2].get("style"))["stroke"], "#0000ff")

    def test_a_format_1_placeholder_reads_as_no_start(self):
        doc = self.write(drawing())
        root = self.succeeds(SketchifyImage, doc, self.args(("img",), "--wait=false"))
        layer = self.sketch_layer(root)
        self.assertIsNone(layer.get(f"{SKETCHIFY}start"))
        layer.set(f"{SKETCHIFY}format", "1")  # as the 0.2.0 extension wrote it
        root.getroottree().write(doc)
        root = self.update(doc)
        paths = list(self.sketch_layer(root).iter(PATH_TAG))
        self.assertEqual(len(paths), 16)
        self.assertTrue(all(black(p) for p in paths))


class TestRefusals(StartCase):
    def refused(self, doc: str, ids, *extra: str) -> str:
        message = self.fails(SketchifyImage, doc, self.args(ids, *extra))
        self.assertEqual(self.backend.requests, [], "nothing may be sent")
        return message

    def test_no_path_selected(self):
        message = self.refused(self.write(drawing()), ("img",), "--selected_paths=start")
        self.assertIn("no path is selected", message)

    def test_a_path_over_no_photo(self):
        doc = self.write(drawing(extra='<path id="far" d="M 700 500 L 760 540"/>'))
        message = self.refused(doc, ("img", "far"), "--selected_paths=keep")
        self.assertIn("The path far lies over none of the selected images", message)

    def test_a_path_over_two_photos(self):
        second = image(data_uri(png_bytes(50, 50)), x=0, y=100, width=300, height=300,
                       ident="img2")
        doc = self.write(drawing(extra=second))
        message = self.refused(doc, ("img", "img2", "pencil"), "--selected_paths=start")
        self.assertIn("lies over two selected images", message)

    def test_more_start_strokes_than_the_smallest_count(self):
        doc = self.write(drawing())
        message = self.refused(doc, ("img", "line", "arc", "pencil"), "--selected_paths=keep",
                               "--strokes_16=false", "--strokes_other=2, 8")
        self.assertIn("3 start strokes lie over img, more than the 2-stroke sketch", message)

    def test_a_path_that_cannot_be_read(self):
        doc = self.write(drawing(extra=f'<path id="bad" d="{CLOSED}" transform="scale(x)"/>'))
        message = self.refused(doc, ("img", "bad"), "--selected_paths=start")
        self.assertIn("The path bad cannot be read", message)

    def test_a_sketch_that_lacks_the_start_strokes_it_was_sent(self):
        given = [Given("M 0 0 L 1 1", True, "stroke:#f00"), Given("M 0 0 L 2 2", False)]
        with self.assertRaises(inkex.AbortExtension) as caught:
            keep_styles([inkex.PathElement()], given, 1.0, "The 16-stroke sketch")
        self.assertIn("The 16-stroke sketch lacks the start strokes it was sent",
                      str(caught.exception))

    def test_a_path_that_draws_nothing(self):
        doc = self.write(drawing(extra='<path id="dot" d="M 200 60"/>'))
        message = self.refused(doc, ("img", "dot"), "--selected_paths=start")
        self.assertIn("The path dot draws nothing", message)

    def test_an_unreadable_stroke_width(self):
        doc = self.write(drawing(extra=f'<path id="odd" d="{CLOSED}" style="stroke-width:5%"/>'))
        message = self.refused(doc, ("img", "odd"), "--selected_paths=keep")
        self.assertIn("The stroke width of odd", message)

"""A mask drawn in the document: a selected closed path over a selected image, or the image's
own clip-path, mapped into the photo's pixels through every transform and sent as the job's
`mask_image`; anything ambiguous refused with one message and the document untouched."""

from __future__ import annotations

import io
import math

import inkex
from extension_cases import (
    PATH_TAG,
    ExtensionCase,
    data_uri,
    document,
    image,
    layer,
    png_bytes,
)
from PIL import Image
from sketchify_image import SketchifyImage
from sketchify_ink.mask import TOLERANCE_PX, flatten, gray_png, is_closed

# The photo: 200x100 px in a 100x50 box at (10, 20), rotated 30°, in a layer moved by (5, 7).
PHOTO = (inkex.Transform(translate=(5, 7)) @ inkex.Transform(rotate=30)
         @ inkex.Transform(translate=(10, 20)) @ inkex.Transform(scale=0.5))
TRIANGLE = [(40.3, 100.1), (130.7, 120.2), (70.9, 190.3)]  # in the outline layer's units


def photo_layer(extra: str = "", ident="img", x=10, uri=None) -> str:
    return layer(image(uri or data_uri(png_bytes(200, 100)), x=x, y=20, width=100, height=50,
                       ident=ident, extra=f'transform="rotate(30)" {extra}'),
                 transform="translate(5,7)")


def outline_layer(d: str, ident="outline", style="fill:none;stroke:#f00") -> str:
    # Its own transform: the outline is mapped through it too.
    return (f'<g id="ink" inkscape:groupmode="layer" transform="translate(-3,4) scale(0.5)">'
            f'<path id="{ident}" d="{d}" style="{style}"/></g>')


def polygon_d(corners: list[tuple[float, float]]) -> str:
    return "M " + " L ".join(f"{x} {y}" for x, y in corners) + " Z"


def inside(point: tuple[float, float], polygon: list[tuple[float, float]]) -> bool:
    """Even-odd ray casting: a different algorithm from the extension's scanline fill."""
    x, y = point
    result = False
    for (x0, y0), (x1, y1) in zip(polygon, polygon[1:] + polygon[:1], strict=True):
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            result = not result
    return result


def expected_mask(size: tuple[int, int], to_doc: inkex.Transform,
                  polygon: list[tuple[float, float]]) -> bytes:
    """255 where the pixel's centre, carried into the polygon's coordinates, is inside."""
    width, height = size
    return bytes(255 if inside(tuple(to_doc.apply_to_point((px + 0.5, py + 0.5))), polygon)
                 else 0 for py in range(height) for px in range(width))


class MaskCase(ExtensionCase):
    effect_class = SketchifyImage

    def args(self, ids, *extra: str) -> list[str]:
        return [*(f"--id={i}" for i in ids), f"--url={self.backend.url}", "--timeout=20",
                *extra]

    def sent_mask(self, job) -> Image.Image:
        self.assertIsNotNone(job.mask, "no mask_image was sent")
        mask = Image.open(io.BytesIO(job.mask))
        self.assertEqual(mask.mode, "L")
        return mask


class TestPathMask(MaskCase):
    def test_a_selected_closed_path_becomes_the_mask_in_the_photos_pixels(self):
        doc = self.write(document(photo_layer() + outline_layer(polygon_d(TRIANGLE))))
        root = self.succeeds(SketchifyImage, doc, self.args(("img", "outline")))
        (job,) = self.backend.jobs.values()
        mask = self.sent_mask(job)
        self.assertEqual(mask.size, (200, 100))
        to_outline = -(inkex.Transform("translate(-3,4) scale(0.5)")) @ PHOTO
        expected = expected_mask((200, 100), to_outline, TRIANGLE)
        self.assertEqual(mask.tobytes(), expected)
        self.assertGreater(expected.count(255), 2000)  # the triangle covers a real part
        self.assertEqual(len(list(root.iter(PATH_TAG))), 16 + 1)  # strokes + the outline

    def test_the_paths_fill_rule_decides_holes(self):
        outer = [(20.5, 20.5), (200.5, 20.5), (200.5, 200.5), (20.5, 200.5)]
        inner = [(60.5, 60.5), (160.5, 60.5), (160.5, 160.5), (60.5, 160.5)]
        d = polygon_d(outer) + " " + polygon_d(inner)  # both drawn the same way round
        for rule, hole in (("nonzero", False), ("evenodd", True)):
            with self.subTest(rule=rule):
                self.backend.reset()
                doc = self.write(document(photo_layer() + outline_layer(
                    d, style=f"fill:#000;fill-rule:{rule}")), f"{rule}.svg")
                self.succeeds(SketchifyImage, doc, self.args(("img", "outline")))
                (job,) = self.backend.jobs.values()
                mask = self.sent_mask(job).tobytes()
                to_outline = -(inkex.Transform("translate(-3,4) scale(0.5)")) @ PHOTO
                in_outer = expected_mask((200, 100), to_outline, outer)
                in_inner = expected_mask((200, 100), to_outline, inner)
                expected = bytes(255 if o and not (hole and i) else 0
                                 for o, i in zip(in_outer, in_inner, strict=True))
                self.assertIn(255, in_inner)  # the hole lies over the photo
                self.assertEqual(mask, expected)

    def test_a_mask_goes_with_a_job_sent_without_waiting_too(self):
        doc = self.write(document(photo_layer() + outline_layer(polygon_d(TRIANGLE))))
        self.succeeds(SketchifyImage, doc, self.args(("img", "outline"), "--wait=false"))
        (job,) = self.backend.jobs.values()
        self.assertEqual(self.sent_mask(job).size, (200, 100))

    def test_a_mask_has_the_size_of_the_photo_after_its_exif_turn(self):
        # Stored 40x24, EXIF orientation 6 (a quarter turn): the backend sees 24x40.
        exif = Image.Exif()
        exif[0x0112] = 6
        out = io.BytesIO()
        Image.new("RGB", (40, 24), (9, 9, 9)).save(out, "JPEG", exif=exif)
        uri = data_uri(out.getvalue(), "image/jpeg")
        doc = self.write(document(
            layer(image(uri, x=0, y=0, width=24, height=40))
            + '<path id="outline" d="M 2 2 L 20 2 L 20 30 Z"/>'))
        self.succeeds(SketchifyImage, doc, self.args(("img", "outline")))
        (job,) = self.backend.jobs.values()
        self.assertEqual(self.sent_mask(job).size, (24, 40))


class TestClipPathMask(MaskCase):
    def test_the_images_own_clip_path_in_its_user_space(self):
        corners = [(20.31, 25.53), (90.57, 22.71), (70.29, 66.43)]  # no pixel centre on an edge
        clip = (f'<defs><clipPath id="cut"><path d="{polygon_d(corners)}" '
                'transform="translate(1,2)"/></clipPath></defs>')
        doc = self.write(document(clip + photo_layer('clip-path="url(#cut)"')))
        self.succeeds(SketchifyImage, doc, self.args(("img",)))
        (job,) = self.backend.jobs.values()
        # The clip lives where the image's x/y/width/height do: after its rotate(30).
        to_clip = -(inkex.Transform(translate=(5, 7)) @ inkex.Transform(rotate=30)
                    @ inkex.Transform(translate=(1, 2))) @ PHOTO
        self.assertEqual(self.sent_mask(job).tobytes(),
                         expected_mask((200, 100), to_clip, corners))

    def test_a_clip_path_in_object_bounding_box_units(self):
        corners = [(0.1, 0.15), (0.9, 0.2), (0.4, 0.85)]
        clip = (f'<defs><clipPath id="cut" clipPathUnits="objectBoundingBox">'
                f'<path d="{polygon_d(corners)}"/></clipPath></defs>')
        doc = self.write(document(clip + photo_layer('style="clip-path:url(#cut)"')))
        self.succeeds(SketchifyImage, doc, self.args(("img",)))
        (job,) = self.backend.jobs.values()
        # Fractions of the image's box: 200x100 pixels.
        self.assertEqual(self.sent_mask(job).tobytes(), expected_mask(
            (200, 100), inkex.Transform(scale=(1 / 200, 1 / 100)), corners))

    def test_a_selected_path_wins_over_the_clip_path(self):
        clip = '<defs><clipPath id="cut"><rect width="1000" height="1000"/></clipPath></defs>'
        doc = self.write(document(clip + photo_layer('clip-path="url(#cut)"')
                                  + outline_layer(polygon_d(TRIANGLE))))
        self.succeeds(SketchifyImage, doc, self.args(("img", "outline")))
        (job,) = self.backend.jobs.values()
        self.assertLess(self.sent_mask(job).tobytes().count(255), 200 * 100)


class TestRefusedMasks(MaskCase):
    def refused(self, body: str, ids) -> str:
        message = self.fails(SketchifyImage, self.write(document(body)), self.args(ids))
        self.assertEqual(self.backend.requests, [])
        return message

    def test_a_path_over_no_selected_image(self):
        far = polygon_d([(900, 900), (950, 900), (950, 950)])
        message = self.refused(photo_layer() + outline_layer(far), ("img", "outline"))
        self.assertIn("lies over none of the selected images", message)

    def test_a_path_over_two_images(self):
        uri = data_uri(png_bytes(200, 100))
        body = (layer(image(uri, ident="a", x=0, y=0) + image(uri, ident="b", x=200, y=0))
                + '<path id="outline" d="M 150 20 L 260 20 L 260 80 L 150 80 Z"/>')
        message = self.refused(body, ("a", "b", "outline"))
        self.assertIn("overlaps two selected images (a and b)", message)

    def test_two_paths_over_one_image(self):
        body = (photo_layer() + outline_layer(polygon_d(TRIANGLE))
                + '<path id="second" d="M 25 70 L 45 70 L 35 85 Z"/>')
        message = self.refused(body, ("img", "outline", "second"))
        self.assertIn("Two selected paths (outline and second)", message)

    def test_an_open_path(self):
        message = self.refused(photo_layer() + outline_layer("M 40 30 L 110 60 L 50 95"),
                               ("img", "outline"))
        self.assertIn("is not closed", message)


class TestOutlines(MaskCase):
    def test_closed_or_not(self):
        for d, closed in (("M 0 0 L 5 0 L 5 5 Z", True), ("M 0 0 L 5 0 L 5 5 L 0 0", True),
                          ("M 0 0 L 5 0 L 5 5", False), ("M 0 0 L 5 0 L 5 5 Z M 9 9 L 9 12",
                                                         False),
                          ("M 0 0 h 5 v 5 z m 9 9 h 1 v 1 z", True), ("M 3 3", False)):
            with self.subTest(d=d):
                self.assertEqual(is_closed(inkex.Path(d).to_absolute()), closed)

    def test_curves_are_flattened_within_the_tolerance(self):
        # A circle of radius 40 px: every flattened point and every chord's middle stays
        # within the tolerance of the true circle.
        circle = inkex.Circle.new((100, 50), 40).path.to_absolute()
        (polygon,) = flatten(circle)
        for (x0, y0), (x1, y1) in zip(polygon, polygon[1:] + polygon[:1], strict=True):
            for x, y in ((x0, y0), ((x0 + x1) / 2, (y0 + y1) / 2)):
                self.assertLess(abs(math.hypot(x - 100, y - 50) - 40), TOLERANCE_PX * 1.2)

    def test_the_mask_png_decodes_to_the_same_pixels(self):
        pixels = bytes((x * 7 + y * 3) % 256 for y in range(13) for x in range(29))
        decoded = Image.open(io.BytesIO(gray_png(29, 13, pixels)))
        self.assertEqual((decoded.mode, decoded.size), ("L", (29, 13)))
        self.assertEqual(decoded.tobytes(), pixels)

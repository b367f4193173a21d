"""An object mask drawn in the document: a selected closed path over a selected image, or the
image's own clip-path, mapped into the image's pixels through every transform and rasterized
into a grayscale PNG of the photo's size (white = the object), the backend's ``mask_image``.

Pure Python (zlib only): Inkscape's own Python may have neither Pillow nor numpy."""

from __future__ import annotations

import itertools
import math
import re
import struct
import zlib
from dataclasses import dataclass

import inkex
from sketchify_ink.geometry import ImageFrame, raw, to_root

CLIP_PATH = inkex.addNS("clipPath", "svg")
# Shapes whose outline can be a mask; groups, text and images are never one.
SHAPES = (inkex.PathElement, inkex.Rectangle, inkex.Circle, inkex.Ellipse, inkex.Polygon,
          inkex.Polyline, inkex.Line)
TOLERANCE_PX = 0.1  # how far a flattened curve may stray from the true one
_URL = re.compile(r"url\(\s*['\"]?#([^'\")\s]+)['\"]?\s*\)")

Polygon = list[tuple[float, float]]


@dataclass(frozen=True)
class SelectedImage:
    """A selected image as the mask needs it: where its pixels are, and how many."""

    image: inkex.BaseElement
    frame: ImageFrame
    pixels: tuple[int, int]

    @property
    def to_pixels(self) -> inkex.Transform:
        """Root user units -> the image's pixels."""
        return -self.frame.pixels_to_root((0.0, 0.0, *map(float, self.pixels)))


@dataclass(frozen=True)
class Raster:
    """A binary coverage of an image's pixels, one byte (0 or 255) per pixel."""

    width: int
    height: int
    data: bytearray

    @property
    def empty(self) -> bool:
        return not any(self.data)

    def png(self) -> bytes:
        return gray_png(self.width, self.height, bytes(self.data))


def wanted(selection: list[inkex.BaseElement], images: list[inkex.BaseElement]) -> bool:
    """Whether a mask may come from the document: a shape is selected or an image is clipped
    (only then are the images' pixel sizes needed)."""
    return any(isinstance(el, SHAPES) for el in selection) or any(
        _clip_reference(image) for image in images)


def masks(selection: list[inkex.BaseElement], targets: list[SelectedImage]) -> dict[int, bytes]:
    """The mask PNG per target index: from the one selected closed shape over that image, else
    from the image's own clip-path. Anything ambiguous is refused with one message."""
    shapes = [el for el in selection if isinstance(el, SHAPES)]
    found: dict[int, tuple[inkex.BaseElement, Raster]] = {}
    for shape in shapes:
        name = element_name(shape)
        outline = _outline(shape, name)
        if not is_closed(outline):
            raise inkex.AbortExtension(
                f"The selected path {name} is not closed, so it cannot outline the object: "
                "close it (Path › Close, or end it on its first node), or leave it out of the "
                "selection."
            )
        rule = _rule(shape, "fill-rule")
        hits = []
        for index, target in enumerate(targets):
            raster = rasterize([outline], [rule], target)
            if not raster.empty:
                hits.append((index, raster))
        if not hits:
            raise inkex.AbortExtension(
                f"The selected path {name} lies over none of the selected images: draw the "
                "outline over the photo it masks, or leave the path out of the selection."
            )
        if len(hits) > 1:
            names = " and ".join(element_name(targets[i].image) for i, _ in hits[:2])
            raise inkex.AbortExtension(
                f"The selected path {name} overlaps two selected images ({names}): a mask "
                "outlines one photo, so draw one path per image."
            )
        index, raster = hits[0]
        if index in found:
            raise inkex.AbortExtension(
                f"Two selected paths ({element_name(found[index][0])} and {name}) lie over the "
                f"image {element_name(targets[index].image)}: a mask is one closed path per "
                "image; combine them (Path › Combine) or select just one."
            )
        found[index] = (shape, raster)
    result = {index: raster.png() for index, (_shape, raster) in found.items()}
    for index, target in enumerate(targets):
        if index not in result:
            clip = clip_raster(target)
            if clip is not None:
                result[index] = clip.png()
    return result


def clip_raster(target: SelectedImage) -> Raster | None:
    """The image's own ``clip-path``, rasterized in its pixels (None when it has none)."""
    image = target.image
    match = _URL.fullmatch(_clip_reference(image))
    if match is None:
        return None
    clip = image.root.getElementById(match.group(1))
    if clip is None or clip.tag != CLIP_PATH:
        return None
    # A clip-path lives in the image's own user space (its transform applied), possibly
    # scaled to the image's box.
    space = to_root(image) @ inkex.Transform(raw(clip, "transform"))
    if clip.get("clipPathUnits") == "objectBoundingBox":
        x, y, width, height = target.frame.resolved_box(target.pixels)
        space = space @ inkex.Transform(translate=(x, y)) @ inkex.Transform(
            scale=(width, height))
    outlines, rules = [], []
    for child in clip:
        if isinstance(child, SHAPES):
            local = inkex.Transform(raw(child, "transform"))
            outlines.append(child.path.to_absolute().transform(space @ local))
            rules.append(_rule(child, "clip-rule"))
    return rasterize(outlines, rules, target) if outlines else None


def _clip_reference(image: inkex.BaseElement) -> str:
    value = image.get("clip-path") or inkex.Style(raw(image, "style") or "").get("clip-path")
    return (value or "").strip()


def _outline(shape: inkex.BaseElement, name: str) -> inkex.Path:
    """The shape's outline in root user units."""
    try:
        return shape.path.to_absolute().transform(to_root(shape))
    except (ValueError, TypeError, IndexError) as err:
        raise inkex.AbortExtension(f"The outline of path {name} cannot be read: {err}.") \
            from None


def _rule(element: inkex.BaseElement, key: str) -> str:
    value = inkex.Style(raw(element, "style") or "").get(key) or element.get(key)
    return "evenodd" if value == "evenodd" else "nonzero"


def element_name(element: inkex.BaseElement) -> str:
    return element.get(inkex.addNS("label", "inkscape")) or element.get("id") or element.TAG


def is_closed(path: inkex.Path) -> bool:
    """Whether every subpath with something drawn ends where it started (or with Z)."""
    subpaths: list[list] = []  # [start point, last point, closed by Z]
    for command, end in zip(path, path.end_points, strict=True):
        letter = command.letter.upper()
        if letter == "M" or not subpaths:
            subpaths.append([end, end, False, False])  # start, last, closed, drawn
        elif letter == "Z":
            subpaths[-1][1:3] = [subpaths[-1][0], True]
        else:
            subpaths[-1][1:4] = [end, False, True]
    drawn = [s for s in subpaths if s[3]]
    return bool(drawn) and all(
        closed or (last - start).length <= 1e-9 * max(1.0, start.length)
        for start, last, closed, _drawn in drawn
    )


def rasterize(outlines: list[inkex.Path], rules: list[str], target: SelectedImage) -> Raster:
    """Pixels of ``target`` whose centres lie inside any outline (root user units), each
    filled by its own rule; the shapes' union."""
    width, height = target.pixels
    data = bytearray(width * height)
    to_pixels = target.to_pixels
    for outline, rule in zip(outlines, rules, strict=True):
        polygons = flatten(outline.transform(to_pixels))
        _fill(data, width, height, polygons, rule)
    return Raster(width, height, data)


def flatten(path: inkex.Path) -> list[Polygon]:
    """Each subpath as a polygon: every cubic cut into enough straight pieces to stay within
    ``TOLERANCE_PX`` of the curve (arcs and quadratics come as cubics)."""
    polygons = []
    for subpath in path.to_superpath():
        points = [tuple(subpath[0][1])]
        for before, after in itertools.pairwise(subpath):
            p0, p1, p2, p3 = before[1], before[2], after[0], after[1]
            # A cubic's points move at most 3/4 of its largest second difference from the
            # chords of n equal pieces, divided by n squared.
            bend = max(math.hypot(p0[0] - 2 * p1[0] + p2[0], p0[1] - 2 * p1[1] + p2[1]),
                       math.hypot(p1[0] - 2 * p2[0] + p3[0], p1[1] - 2 * p2[1] + p3[1]))
            pieces = min(1024, max(1, math.ceil(math.sqrt(0.75 * bend / TOLERANCE_PX))))
            for step in range(1, pieces + 1):
                t = step / pieces
                s = 1 - t
                a, b, c, d = s * s * s, 3 * s * s * t, 3 * s * t * t, t * t * t
                points.append((a * p0[0] + b * p1[0] + c * p2[0] + d * p3[0],
                               a * p0[1] + b * p1[1] + c * p2[1] + d * p3[1]))
        if len(points) > 2:
            polygons.append(points)
    return polygons


def _fill(data: bytearray, width: int, height: int, polygons: list[Polygon],
          rule: str) -> None:
    """Scanline fill at pixel centres: a pixel is inside when its centre is."""
    edges = []  # (y top, y bottom, x at top, dx/dy, winding)
    for polygon in polygons:
        for (x0, y0), (x1, y1) in zip(polygon, polygon[1:] + polygon[:1], strict=True):
            if y0 == y1:
                continue
            winding = 1 if y1 > y0 else -1
            if y0 > y1:
                x0, y0, x1, y1 = x1, y1, x0, y0
            edges.append((y0, y1, x0, (x1 - x0) / (y1 - y0), winding))
    if not edges:
        return
    edges.sort()
    full = b"\xff" * width
    first_row = max(0, math.ceil(edges[0][0] - 0.5))
    last_row = min(height - 1, math.floor(max(e[1] for e in edges) - 0.5))
    active, next_edge = [], 0
    for row in range(first_row, last_row + 1):
        centre = row + 0.5
        while next_edge < len(edges) and edges[next_edge][0] <= centre:
            active.append(edges[next_edge])
            next_edge += 1
        active = [e for e in active if e[1] > centre]
        crossings = sorted((e[2] + (centre - e[0]) * e[3], e[4]) for e in active if
                           e[0] <= centre)
        inside, start, offset = 0, 0.0, row * width
        for x, winding in crossings:
            was = _inside(inside, rule)
            inside += winding
            if not was and _inside(inside, rule):
                start = x
            elif was and not _inside(inside, rule):
                left = max(0, math.ceil(start - 0.5))
                right = min(width, math.ceil(x - 0.5))
                if right > left:
                    data[offset + left:offset + right] = full[:right - left]


def _inside(winding: int, rule: str) -> bool:
    return winding % 2 == 1 if rule == "evenodd" else winding != 0


def gray_png(width: int, height: int, pixels: bytes) -> bytes:
    """An 8-bit grayscale PNG of ``pixels`` (row after row)."""
    rows = b"".join(b"\0" + pixels[row * width:(row + 1) * width] for row in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b""))

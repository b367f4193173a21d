"""Update sketches under inkex.tester: placeholders left by Sketchify image… with "wait" off,
filled once their jobs are done on the image where it is now (or where it was), progress and
failures in the labels, nothing else changed, idempotent, across a saved and reopened document
and a backend restart; the token only ever goes to the backend the dialog names."""

from __future__ import annotations

import http.server
import math
import threading
from pathlib import Path

import inkex
from extension_cases import (
    LABEL,
    PATH_TAG,
    SKETCHIFY,
    SVG,
    ExtensionCase,
    data_uri,
    document,
    image,
    layer,
    png_bytes,
    points,
    top_layers,
    visible,
)
from extension_fixtures import StandInBackend
from lxml import etree
from sketchify_image import SketchifyImage
from sketchify_ink.placeholders import Record, read
from sketchify_update import UpdateSketches

TOKEN = "team-token"


def photo_document(x=10, y=20, width=100, height=50, transform="rotate(30)") -> str:
    """A 200x100 photo in a box half its size, rotated, in a translated layer."""
    return document(layer(
        image(data_uri(png_bytes(200, 100)), x=x, y=y, width=width, height=height,
              extra=f'transform="{transform}" inkscape:label="Cat"'),
        transform="translate(5,7)") + '<rect id="other" width="3" height="3"/>')


def mapped(transform: inkex.Transform):
    return lambda px, py: tuple(transform.apply_to_point((px, py)))


class UpdateCase(ExtensionCase):
    effect_class = UpdateSketches

    def start(self, doc: str, ids=("img",), *extra: str, backend=None) -> etree._Element:
        """Sketchify image… with wait off: placeholders, saved into ``doc``."""
        backend = backend or self.backend
        return self.succeeds(SketchifyImage, doc, [
            *(f"--id={i}" for i in ids), f"--url={backend.url}", "--wait=false",
            f"--token={TOKEN}", *extra])

    def update(self, doc: str, message: str = "", url: str | None = None) -> etree._Element:
        return self.succeeds(UpdateSketches, doc, self.update_args(url), message)

    def update_fails(self, doc: str, url: str | None = None) -> str:
        return self.fails(UpdateSketches, doc, self.update_args(url))

    def update_args(self, url: str | None) -> list[str]:
        return [f"--url={url or self.backend.url}", f"--token={TOKEN}"]

    def finish_jobs(self, backend=None) -> None:
        for job in (backend or self.backend).jobs.values():
            job.polls_until_done = 0  # the next status poll answers "done"

    def sketches(self, root) -> dict[str, etree._Element]:
        return {name: g for name, g in top_layers(root).items() if " strokes · " in name}

    def assert_strokes(self, placed, job, count: int, mapping, width_scale: float) -> None:
        """The layer holds the job's strokes pushed through ``mapping``, within 1e-4 units."""
        source = etree.fromstring(job.svgs[count].encode())
        expected_width = float(source.find(f"{SVG}g").get("stroke-width")) * width_scale
        sources = [p.get("d") for p in source.iter(PATH_TAG)]
        paths = list(placed.iter(PATH_TAG))
        self.assertEqual(len(paths), count)
        for path, d in zip(paths, sources, strict=True):
            self.assertAlmostEqual(float(path.style["stroke-width"]), expected_width, 4)
            for (gx, gy), (px, py) in zip(points(path.get("d")), points(d), strict=True):
                ex, ey = mapping(px, py)
                self.assertAlmostEqual(gx, ex, 4)
                self.assertAlmostEqual(gy, ey, 4)


def where_the_photo_is(x=10, y=20) -> inkex.Transform:
    """translate(5,7) . rotate(30) . (x + px/2, y + py/2) as one transform."""
    return (inkex.Transform(translate=(5, 7)) @ inkex.Transform(rotate=30)
            @ inkex.Transform(translate=(x, y)) @ inkex.Transform(scale=0.5))


class TestFilling(UpdateCase):
    def test_done_jobs_fill_their_placeholders_on_the_image_where_it_is_now(self):
        doc = self.write(photo_document())
        self.start(doc, ("img",), "--strokes_4=true")
        (job,) = self.backend.jobs.values()
        # The document is saved and reopened (each run reads the file); the photo moves.
        tree = inkex.load_svg(doc)
        tree.getroot().getElementById("img").set("x", "40")
        tree.write(doc)
        self.finish_jobs()
        root = self.update(doc)
        layers = self.sketches(root)
        self.assertEqual(set(layers), {"4 strokes · Cat", "16 strokes · Cat"})
        for count in (4, 16):
            placed = layers[f"{count} strokes · Cat"]
            self.assertEqual(placed.get(f"{SKETCHIFY}status"), "done")
            self.assert_strokes(placed, job, count, mapped(where_the_photo_is(x=40)), 0.5)
            (metadata,) = placed.iterchildren(f"{SVG}metadata")
            self.assertIn(f'"strokes": {count}', metadata.text)
        ids = [el.get("id") for el in root.iter() if el.get("id")]
        self.assertEqual(len(ids), len(set(ids)))
        self.assertNotIn(TOKEN.encode(), Path(doc).read_bytes())

    def test_a_format_1_placeholder_is_read_as_a_sketch_without_plot(self):
        doc = self.write(photo_document())
        self.start(doc, ("img",))
        (job,) = self.backend.jobs.values()
        text = Path(doc).read_text(encoding="utf-8")
        Path(doc).write_text(text.replace('sketchify:format="2"', 'sketchify:format="1"'),
                             encoding="utf-8")
        self.finish_jobs()
        (placed,) = self.sketches(self.update(doc)).values()
        self.assertEqual(placed.get(f"{SKETCHIFY}status"), "done")
        self.assert_strokes(placed, job, 16, mapped(where_the_photo_is()), 0.5)
        fetched = [path for _, path in self.backend.requests if "/v1/sketches/" in path]
        self.assertTrue(any("/svg?" in path for path in fetched))
        self.assertFalse(any("/plot" in path for path in fetched))

    def test_a_format_1_placeholder_reads_as_neither_start_nor_plot(self):
        layer = inkex.Layer()
        Record(url="http://x", job="j", count=4, image="img", frame=inkex.Transform(),
               pixels=(2, 1), status="queued", start='[{"d": "M 0 0 L 1 1", "locked": true}]',
               plot='{"pen_mm": 0.5}').write(layer)
        self.assertEqual((read(layer).start != "", read(layer).plot != ""), (True, True))
        layer.set(f"{SKETCHIFY}format", "1")
        self.assertEqual((read(layer).start, read(layer).plot), ("", ""))

    def test_a_deleted_image_gets_its_strokes_where_it_was(self):
        doc = self.write(photo_document())
        self.start(doc)
        (job,) = self.backend.jobs.values()
        tree = inkex.load_svg(doc)
        photo = tree.getroot().getElementById("img")
        photo.getparent().remove(photo)
        tree.write(doc)
        self.finish_jobs()
        root = self.update(doc)
        self.assert_strokes(self.sketches(root)["16 strokes · Cat"], job, 16,
                            mapped(where_the_photo_is()), 0.5)

    def test_a_placeholder_moved_into_a_transformed_group_still_lands_on_the_image(self):
        doc = self.write(photo_document())
        self.start(doc)
        (job,) = self.backend.jobs.values()
        tree = inkex.load_svg(doc)
        root = tree.getroot()
        (placeholder,) = self.sketches(root).values()
        holder = etree.SubElement(root, f"{SVG}g", id="holder", transform="scale(2)")
        holder.append(placeholder)
        tree.write(doc)
        self.finish_jobs()
        root = self.update(doc)
        filled = root.getElementById("holder")[0]
        # In the group's own units: half of everything, stroke widths included.
        self.assert_strokes(filled, job, 16, mapped(
            inkex.Transform(scale=0.5) @ where_the_photo_is()), 0.25)

    def test_nothing_else_changes_and_a_second_update_changes_nothing(self):
        doc = self.write(photo_document())
        self.start(doc, ("img",), "--strokes_4=true", "--strokes_8=true")
        tree = inkex.load_svg(doc)
        layers = self.sketches(tree.getroot())
        # The user shows a hidden count, hides the visible one and renames another.
        layers["4 strokes · Cat · queued"].style["display"] = "inline"
        layers["16 strokes · Cat · queued"].style["display"] = "none"
        layers["8 strokes · Cat · queued"].set(LABEL, "my eight · queued")
        tree.write(doc)
        before = inkex.load_svg(doc).getroot()
        self.finish_jobs()
        after = self.update(doc)
        self.assertEqual(set(self.sketches(after)) | set(top_layers(after)),
                         {"Photo", "4 strokes · Cat", "16 strokes · Cat", "my eight"})
        self.assertEqual(self.without_updates(after), self.without_updates(before))
        filled = top_layers(after)
        self.assertTrue(visible(filled["4 strokes · Cat"]))
        self.assertFalse(visible(filled["16 strokes · Cat"]))
        self.assertFalse(visible(filled["my eight"]))

        requests = len(self.backend.requests)
        saved = Path(doc).read_bytes()
        message = self.update_fails(doc)
        self.assertIn("Nothing to update", message)
        self.assertEqual(Path(doc).read_bytes(), saved)
        self.assertEqual(len(self.backend.requests), requests, "finished jobs are not asked")

    @staticmethod
    def without_updates(root) -> bytes:
        """The document less what an update may change: labels, statuses, layer contents."""
        copy = etree.fromstring(etree.tostring(root))
        for element in list(copy.iter()):
            if element.get(f"{SKETCHIFY}job") is not None:
                element.attrib.pop(LABEL, None)
                element.attrib.pop(f"{SKETCHIFY}status")
                for child in list(element):
                    element.remove(child)
        return etree.tostring(copy)


class TestStatuses(UpdateCase):
    def test_running_queued_failed_canceled_and_expired_jobs_in_their_labels(self):
        uri = data_uri(png_bytes(64, 48))
        names = ("run", "wait", "bad", "stop", "gone")
        body = "".join(image(uri, ident=n, x=70 * i, extra=f'inkscape:label="{n}"')
                       for i, n in enumerate(names))
        doc = self.write(document(layer(body)))
        behaviour = self.backend.behaviour
        behaviour.polls_until_done = 100
        self.start(doc, names)
        by_name = dict(zip(names, self.backend.jobs.values(), strict=True))  # sent in order
        by_name["run"].polls = 1  # this update's poll finds it running, at step 40 of 100
        by_name["wait"].queued_polls = 100
        by_name["bad"].error, by_name["bad"].polls_until_done = "CLIP weights\n are missing.", 0
        by_name["stop"].canceled = True
        del self.backend.jobs[by_name["gone"].id]
        root = self.update(doc)
        labels = {g.get(f"{SKETCHIFY}job"): g.get(LABEL) for g in self.sketches(root).values()}
        self.assertEqual(labels, {
            by_name["run"].id: "16 strokes · run · running 40 %",
            by_name["wait"].id: "16 strokes · wait · queued",
            by_name["bad"].id: "16 strokes · bad · failed: CLIP weights are missing.",
            by_name["stop"].id: "16 strokes · stop · canceled",
            by_name["gone"].id: "16 strokes · gone · expired",
        })
        statuses = sorted(g.get(f"{SKETCHIFY}status") for g in self.sketches(root).values())
        self.assertEqual(statuses, ["canceled", "expired", "failed", "queued", "running"])
        self.assertEqual([p for g in self.sketches(root).values() for p in g.iter(PATH_TAG)],
                         [])

        # Only the pending ones are asked again, and the running one moves on.
        self.backend.requests.clear()
        root = self.update(doc)
        asked = {path.split("/")[3] for _, path in self.backend.requests if path.count("/") == 3}
        self.assertEqual(asked, {by_name["run"].id, by_name["wait"].id})
        labels = {g.get(f"{SKETCHIFY}job"): g.get(LABEL) for g in self.sketches(root).values()}
        self.assertEqual(labels[by_name["run"].id], "16 strokes · run · running 80 %")

    def test_after_a_backend_restart(self):
        doc = self.write(photo_document())
        self.start(doc)
        self.backend.restart()
        self.finish_jobs()
        root = self.update(doc)
        self.assertEqual(set(self.sketches(root)), {"16 strokes · Cat"})


class TestRefusals(UpdateCase):
    def test_the_token_goes_only_to_the_backend_the_dialog_names(self):
        other = StandInBackend()
        try:
            uri = data_uri(png_bytes(64, 48))
            doc = self.write(document(layer(image(uri, ident="mine")
                                            + image(uri, ident="theirs", x=80))))
            self.start(doc, ("mine",))
            self.start(doc, ("theirs",), backend=other)
            other.requests.clear()
            self.finish_jobs()
            self.finish_jobs(other)
            before = {g.get("id"): etree.tostring(g) for g in self.sketches(
                inkex.load_svg(doc).getroot()).values()}
            root = self.update(doc, message="1 sketch started with another backend "
                                            f"({other.url}) was left alone")
            self.assertEqual(other.requests, [], "nothing may be sent to the other backend")
            after = {g.get("id"): g for g in self.sketches(root).values()}
            self.assertEqual(after["sketch16-mine"].get(LABEL), "16 strokes · mine")
            self.assertEqual(etree.tostring(after["sketch16-theirs"]),
                             before["sketch16-theirs"])
            self.assertTrue(all(a == f"Bearer {TOKEN}" for a in self.backend.authorizations))

            # Asked for the other backend only, the dialog's own token goes there.
            self.backend.requests.clear()
            root = self.update(doc, url=other.url + "/")
            self.assertEqual(self.backend.requests, [])
            labels = {g.get(LABEL) for g in self.sketches(root).values()}
            self.assertEqual(labels, {"16 strokes · mine", "16 strokes · theirs"})
        finally:
            other.close()

    def test_only_other_backends_waiting_is_one_message_and_no_request(self):
        other = StandInBackend()
        try:
            doc = self.write(photo_document())
            self.start(doc, backend=other)
            other.requests.clear()
            message = self.update_fails(doc)
            self.assertIn("Nothing was updated", message)
            self.assertIn(other.url, message)
            self.assertEqual(self.backend.requests + other.requests, [])
        finally:
            other.close()

    def test_unreachable_backend(self):
        doc = self.write(photo_document())
        self.start(doc)
        url = self.backend.url
        self.backend.close()
        try:
            message = self.update_fails(doc, url=url)
        finally:
            self.backend.restart()
        self.assertIn("Cannot reach", message)

    def test_a_server_that_is_not_a_sketchify_backend_expires_nothing(self):
        doc = self.write(photo_document())
        self.start(doc)
        # A web server that answers 404 to everything, at the placeholders' recorded URL.
        port = int(self.backend.url.rsplit(":", 1)[1])
        self.backend.close()
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _NotFound)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            message = self.update_fails(doc)
        finally:
            server.shutdown()
            server.server_close()
            self.backend.restart()
        self.assertIn("does not answer like a Sketchify backend", message)

    def test_a_document_without_placeholders(self):
        doc = self.write(photo_document())
        self.assertIn("no Sketchify placeholders", self.update_fails(doc))
        self.assertEqual(self.backend.requests, [])

    def refused_placeholder(self, written: str, edited: str) -> str:
        """The message for a placeholder whose ``written`` attribute was made ``edited``."""
        doc = self.write(photo_document())
        self.start(doc)
        text = Path(doc).read_text(encoding="utf-8")
        self.assertIn(written, text)
        Path(doc).write_text(text.replace(written, edited), encoding="utf-8")
        self.backend.requests.clear()
        message = self.update_fails(doc)
        self.assertEqual(self.backend.requests, [])
        return message

    def test_placeholders_from_a_newer_extension_are_refused(self):
        message = self.refused_placeholder('sketchify:format="2"', 'sketchify:format="3"')
        self.assertIn("newer Sketchify extension (placeholder format 3", message)

    def test_a_damaged_start_is_refused_before_asking_the_backend(self):
        message = self.refused_placeholder('sketchify:status="queued"',
                                           'sketchify:status="queued" sketchify:start="[{"')
        self.assertIn("is damaged (its start cannot be read)", message)

    def test_a_damaged_plot_setting_is_refused(self):
        message = self.refused_placeholder('sketchify:status="queued"',
                                           'sketchify:status="queued" sketchify:plot="{pen"')
        self.assertIn("is damaged (its plot cannot be read)", message)

    def test_a_damaged_placeholder_is_refused(self):
        message = self.refused_placeholder('sketchify:pixels="200 100"',
                                           'sketchify:pixels="lots"')
        self.assertIn("is damaged", message)

    def test_the_frame_is_kept_to_full_precision(self):
        doc = self.write(photo_document(transform="rotate(10.123456789)"))
        self.start(doc)
        (placeholder,) = self.sketches(inkex.load_svg(doc).getroot()).values()
        frame = inkex.Transform(placeholder.get(f"{SKETCHIFY}frame"))
        expected = (inkex.Transform(translate=(5, 7)) @ inkex.Transform(rotate=10.123456789)
                    @ inkex.Transform(translate=(10, 20)) @ inkex.Transform(scale=0.5))
        for got, want in zip(frame.to_hexad(), expected.to_hexad(), strict=True):
            self.assertTrue(math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-12))


class _NotFound(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_error(404)

    def log_message(self, *args):
        pass

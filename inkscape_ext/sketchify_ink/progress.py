"""Showing progress while the backend works: a small GTK window (the state of each job, the
current best strokes over a thumbnail of the photo, a Cancel button) in Inkscape's own theme
on a desktop, plain waiting anywhere else. Nothing here may break the headless path."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

THUMBNAIL = (320, 240)  # the largest preview, in screen pixels


class Waiting:
    """No window: just wait. The GTK window below has the same members."""

    canceled = False
    previews = False  # whether preview() shows anything (else nobody fetches them)

    def show(self, text: str, fraction: float) -> None:
        pass

    def preview(self, photo: bytes, sketch_svg: bytes) -> None:
        pass

    def wait(self, seconds: float) -> None:
        time.sleep(seconds)


@contextlib.contextmanager
def progress_window(title: str) -> Iterator[Waiting]:
    """A progress window if a desktop is there, else a plain :class:`Waiting`."""
    with _quiet_stderr():
        gtk = _load_gtk()
        if gtk is None:
            window = None
        else:
            try:
                window = _GtkProgress(gtk, title)
            except Exception:  # a broken desktop session must not stop the sketch
                window = None
        try:
            yield window or Waiting()
        finally:
            if window is not None:
                window.close()


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """GTK and GLib print warnings straight to file descriptor 2, and Inkscape shows anything
    there as an error dialog; the extension's own message is written after this ends."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _load_gtk():
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return None
    os.environ.setdefault("NO_AT_BRIDGE", "1")  # no accessibility-bus chatter under Xvfb
    try:
        import gi

        gi.require_version("Gtk", "3.0")
        gi.require_version("GdkPixbuf", "2.0")
        from gi.repository import Gtk

        return Gtk if Gtk.init_check(sys.argv[:1])[0] else None
    except (ImportError, ValueError, RuntimeError):
        return None


def inkscape_theme() -> tuple[str | None, bool | None]:
    """Inkscape's GTK theme name and whether it prefers the dark variant, from its
    preferences (``/theme/gtkTheme``, ``/theme/preferDarkTheme``); None where unset. The
    profile is $INKSCAPE_PROFILE_DIR, else a folder above this script's (it is installed into
    the profile's extensions folder, maybe one folder deeper from a zip)."""
    here = Path(__file__).resolve().parent
    folders = [Path(os.environ["INKSCAPE_PROFILE_DIR"])] if os.environ.get(
        "INKSCAPE_PROFILE_DIR") else []
    folders += [here.parent, here.parent.parent]
    for folder in folders:
        try:
            root = ElementTree.parse(folder / "preferences.xml").getroot()
        except (OSError, ElementTree.ParseError):
            continue
        theme = next((g for g in root.findall("group") if g.get("id") == "theme"), None)
        if theme is None:
            return None, None
        name = (theme.get("gtkTheme") or "").strip()
        dark = theme.get("preferDarkTheme")
        if name.endswith(":dark"):  # how some Inkscape versions name a dark variant
            name, dark = name[:-5], "true"
        return name or None, None if dark is None else dark.lower() in ("true", "1")
    return None, None


class _GtkProgress(Waiting):
    previews = True

    def __init__(self, gtk, title: str) -> None:
        self.gtk = gtk
        self.canceled = False
        self._thumbnails: dict[bytes, tuple[bytes, tuple[int, int]]] = {}
        self._apply_theme()
        self.window = gtk.Window(title=title)
        self.window.set_default_size(380, -1)
        self.window.set_border_width(12)
        self.window.set_keep_above(True)
        self.window.connect("delete-event", self._cancel)
        box = gtk.Box(orientation=gtk.Orientation.VERTICAL, spacing=8)
        self.label = gtk.Label(label="Sending to the backend…", xalign=0)
        self.label.set_line_wrap(True)
        self.picture = gtk.Image()
        self.bar = gtk.ProgressBar(show_text=True)
        self.button = gtk.Button(label="Cancel")
        self.button.connect("clicked", self._cancel)
        for child in (self.label, self.picture, self.bar, self.button):
            box.pack_start(child, False, False, 0)
        self.window.add(box)
        self.window.show_all()
        self.picture.hide()  # until the first preview
        self._pump()

    def _apply_theme(self) -> None:
        name, dark = inkscape_theme()
        settings = self.gtk.Settings.get_default()
        if name:
            settings.set_property("gtk-theme-name", name)
        if dark is not None:
            settings.set_property("gtk-application-prefer-dark-theme", dark)

    def colours(self) -> tuple[str, str]:
        """The theme's text and background colours, as ``#rrggbb``."""
        from sketchify_ink.preview import hex_colour

        context = self.window.get_style_context()
        found = []
        for name in ("theme_fg_color", "theme_bg_color"):
            ok, rgba = context.lookup_color(name)
            found.append(hex_colour(rgba.red, rgba.green, rgba.blue) if ok else None)
        return found[0] or "#000000", found[1] or "#ffffff"

    def show(self, text: str, fraction: float) -> None:
        self.label.set_text(text)
        self.bar.set_fraction(min(max(fraction, 0.0), 1.0))
        self._pump()

    def preview(self, photo: bytes, sketch_svg: bytes) -> None:
        from sketchify_ink.preview import compose

        try:
            thumbnail, size = self._thumbnail(photo)
            ink, veil = self.colours()
            self.picture.set_from_pixbuf(_pixbuf(compose(thumbnail, size, sketch_svg, ink,
                                                         veil)))
            self.picture.show()
        except Exception:  # a preview that cannot be drawn is just not shown
            return
        self._pump()

    def _thumbnail(self, photo: bytes) -> tuple[bytes, tuple[int, int]]:
        if photo not in self._thumbnails:
            pixbuf = _pixbuf(photo).apply_embedded_orientation()  # as the backend turns it
            scale = min(THUMBNAIL[0] / pixbuf.get_width(), THUMBNAIL[1] / pixbuf.get_height())
            size = (max(1, round(pixbuf.get_width() * scale)),
                    max(1, round(pixbuf.get_height() * scale)))
            from gi.repository import GdkPixbuf

            small = pixbuf.scale_simple(*size, GdkPixbuf.InterpType.BILINEAR)
            self._thumbnails[photo] = (small.save_to_bufferv("png", [], [])[1], size)
        return self._thumbnails[photo]

    def wait(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end and not self.canceled:
            self._pump()
            time.sleep(0.02)

    def close(self) -> None:
        self.window.destroy()
        self._pump()

    def _cancel(self, *_args) -> bool:
        self.canceled = True
        self.label.set_text("Canceling…")
        self.button.set_sensitive(False)
        return True  # keep the window until the jobs are canceled

    def _pump(self) -> None:
        while self.gtk.events_pending():
            self.gtk.main_iteration_do(False)


def _pixbuf(data: bytes):
    from gi.repository import GdkPixbuf

    loader = GdkPixbuf.PixbufLoader()
    try:
        loader.write(data)
    finally:
        loader.close()
    return loader.get_pixbuf()

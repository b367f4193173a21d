"""Showing progress while the backend works: a small GTK window with a Cancel button on a
desktop, plain waiting anywhere else. Nothing here may break the headless path."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator


class Waiting:
    """No window: just wait. The GTK window below has the same three members."""

    canceled = False

    def show(self, text: str, fraction: float) -> None:
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
        from gi.repository import Gtk

        return Gtk if Gtk.init_check(sys.argv[:1])[0] else None
    except (ImportError, ValueError, RuntimeError):
        return None


class _GtkProgress(Waiting):
    def __init__(self, gtk, title: str) -> None:
        self.gtk = gtk
        self.canceled = False
        self.window = gtk.Window(title=title)
        self.window.set_default_size(380, -1)
        self.window.set_border_width(12)
        self.window.set_keep_above(True)
        self.window.connect("delete-event", self._cancel)
        box = gtk.Box(orientation=gtk.Orientation.VERTICAL, spacing=8)
        self.label = gtk.Label(label="Sending to the backend…", xalign=0)
        self.bar = gtk.ProgressBar(show_text=True)
        self.button = gtk.Button(label="Cancel")
        self.button.connect("clicked", self._cancel)
        for child in (self.label, self.bar, self.button):
            box.pack_start(child, False, False, 0)
        self.window.add(box)
        self.window.show_all()
        self._pump()

    def show(self, text: str, fraction: float) -> None:
        self.label.set_text(text)
        self.bar.set_fraction(min(max(fraction, 0.0), 1.0))
        self._pump()

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

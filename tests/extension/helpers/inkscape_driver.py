"""Run Inkscape under the current X display (start this with `xvfb-run -a`) and press OK on
every message dialog it opens: an extension's error message is a modal dialog that would
otherwise block a batch run forever. Prints how many dialogs it closed, as `DIALOGS n`.

    xvfb-run -a python tests/extension/helpers/inkscape_driver.py inkscape --batch-process … IN
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time


def _xdotool(*args: str) -> str:
    result = subprocess.run(["xdotool", *args], capture_output=True, text=True)
    return result.stdout


def windows() -> list[tuple[str, int, int, int, int]]:
    """Visible windows: title, x, y, width, height."""
    found = []
    for window in _xdotool("search", "--onlyvisible", "--name", ".*").split():
        shape = dict(
            line.split("=", 1) for line in _xdotool("getwindowgeometry", "--shell", window)
            .splitlines() if "=" in line
        )
        name = _xdotool("getwindowname", window).strip()
        found.append((name, *(int(shape.get(k, 0)) for k in ("X", "Y", "WIDTH", "HEIGHT"))))
    return found


def is_dialog(name: str, w: int, h: int) -> bool:
    """Inkscape's message dialogs are untitled and dialog-sized."""
    return not name and 100 < w < 1000 and h > 150


def gtk_display() -> str:
    """Whether GTK, as Inkscape starts it, can open the display now: "True", "False", or why
    the probe itself failed."""
    probe = ("import gi; gi.require_version('Gtk', '3.0'); from gi.repository import Gtk; "
             "print(Gtk.init_check(None)[0])")
    try:
        result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                                timeout=10)
    except subprocess.TimeoutExpired:
        return "probe timed out"
    said = result.stdout.strip()
    return said if result.returncode == 0 else f"probe failed: {result.stderr.strip()}"


def wait_for_display(timeout_s: float = 20.0) -> str:
    """How long until GTK opened the X display, or what it said: Inkscape decides once, at
    start, whether it has a GUI, and without one it skips every extension and saves the
    document unchanged."""
    start = time.monotonic()
    while (said := gtk_display()) != "True" and time.monotonic() - start < timeout_s:
        time.sleep(0.25)
    took = time.monotonic() - start
    return f"display ready after {took:.2f} s" if said == "True" else (
        f"display NOT ready after {took:.2f} s: GTK {said}")


def main(command: list[str]) -> int:
    print(wait_for_display(), flush=True)
    with tempfile.TemporaryFile() as log:
        inkscape = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        closed, seen = 0, set()
        while inkscape.poll() is None:
            for name, x, y, w, h in windows():
                if (name, w, h) not in seen:
                    seen.add((name, w, h))
                    print(f"window {name!r} {w}x{h}", flush=True)
                if is_dialog(name, w, h):
                    # The OK button spans the bottom of the dialog; no window manager runs
                    # under Xvfb to give it the keyboard focus, so click it.
                    _xdotool("mousemove", str(x + w // 2), str(y + h - 18), "click", "1")
                    closed += 1
                    time.sleep(0.5)
            time.sleep(0.2)
        print(f"DIALOGS {closed}", flush=True)
        log.seek(0)
        said = log.read().decode(errors="replace")
        print("INKSCAPE SAID:", said, flush=True)
    if "No GUI available" in said:
        print(f"GTK opens the display now: {gtk_display()}", flush=True)
    return inkscape.returncode

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

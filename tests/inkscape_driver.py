"""Run Inkscape under the current X display (start this with `xvfb-run -a`) and press OK on
every message dialog it opens: an extension's error message is a modal dialog that would
otherwise block a batch run forever. Prints how many dialogs it closed, as `DIALOGS n`.

    xvfb-run -a python tests/inkscape_driver.py inkscape --batch-process ... IN.svg
"""

from __future__ import annotations

import subprocess
import sys
import time


def _xdotool(*args: str) -> str:
    result = subprocess.run(["xdotool", *args], capture_output=True, text=True)
    return result.stdout


def dialogs() -> list[tuple[int, int, int, int]]:
    """Visible, untitled, dialog-sized windows (Inkscape's message dialogs), as x, y, w, h."""
    found = []
    for window in _xdotool("search", "--onlyvisible", "--name", ".*").split():
        if _xdotool("getwindowname", window).strip():
            continue
        shape = dict(
            line.split("=", 1) for line in _xdotool("getwindowgeometry", "--shell", window)
            .splitlines() if "=" in line
        )
        x, y, w, h = (int(shape.get(k, 0)) for k in ("X", "Y", "WIDTH", "HEIGHT"))
        if 100 < w < 1000 and h > 150:
            found.append((x, y, w, h))
    return found


def main(command: list[str]) -> int:
    inkscape = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    closed = 0
    while inkscape.poll() is None:
        for x, y, w, h in dialogs():
            # The OK button spans the bottom of the dialog; no window manager runs under
            # Xvfb to give it the keyboard focus, so click it.
            _xdotool("mousemove", str(x + w // 2), str(y + h - 18), "click", "1")
            closed += 1
            time.sleep(0.5)
        time.sleep(0.3)
    print(f"DIALOGS {closed}", flush=True)
    return inkscape.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Durations as a person says them ("about 5 h", "about 4 min", "about 35 s"), for backends
that send only seconds. The extension runs in Inkscape's own Python, without the engine, so it
cannot use ``sketchify.core.timing.durations``; the server's own text is preferred wherever it
is sent."""

from __future__ import annotations

import math


def about(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "unknown"
    if seconds < 0.5:
        return "less than 1 s"
    for unit, size in (("h", 3600.0), ("min", 60.0)):
        # Switch unit where rounding would otherwise show 60 of the smaller one.
        if seconds >= size - size / 120:
            amount = seconds / size
            if unit == "h" and amount < 9.95:
                return f"about {amount:.1f} h".replace(".0 h", " h")
            return f"about {round(amount)} {unit}"
    return f"about {round(seconds)} s"


def seconds_text(state: dict, seconds_key: str, text_key: str) -> tuple[float | None, str]:
    """A time from a job's JSON (or its ``progress``): the seconds, and the server's own text
    for them when it sends one, else ours. ``(None, "unknown")`` when there is no estimate."""
    seconds = state.get(seconds_key)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        seconds = None
    text = state.get(text_key)
    if not isinstance(text, str) or not text.strip():
        text = about(seconds)
    return seconds, text.strip()

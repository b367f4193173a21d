"""Durations as people say them: "about 35 s", "about 4 min", "about 5 h"."""

from __future__ import annotations

import math


def about(seconds: float | None) -> str:
    """A rounded, human-readable duration; "unknown" when there is no estimate."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "unknown"
    if seconds < 0.5:
        return "less than 1 s"
    if seconds < 59.5:
        return f"about {round(seconds)} s"
    minutes = seconds / 60
    if minutes < 59.5:
        return f"about {round(minutes)} min"
    hours = minutes / 60
    # Tenths of an hour while they still matter (1.5 h is not 2 h).
    text = f"{hours:.1f}".removesuffix(".0") if hours < 9.95 else f"{round(hours)}"
    return f"about {text} h"

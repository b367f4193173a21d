"""The plot-ready SVGs the front made lately, kept in memory: planning the pen's order is the
costly part of `GET /v1/sketches/<id>/plot` (0.4 s for 256 strokes on an AMD EPYC), and
clients ask for the same one again (the web page's button, Inkscape's Update sketches).

A key holds the stored SVG's SHA-256 and the plot settings besides the job and the count, so a
replaced sketch or other settings never meet an old entry: nothing needs invalidating. The
least recently used entry goes first once the cache is full.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from typing import Any

from sketchify.core.output.plot import plot_svg
from sketchify.core.output.plot_settings import from_json

# A 256-stroke plot is under 50 KB, so a full cache holds about 3 MB.
MAX_ENTRIES = 64


class PlotCache:
    """Plot-ready SVG texts by (job id, count, stored SVG's digest, plot settings)."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, int, str, str], str] = OrderedDict()
        self._lock = threading.Lock()

    def plotted(self, job_id: str, count: int, stored: bytes, settings: dict[str, Any]) -> str:
        """The plot-ready SVG of the ``stored`` sketch with the job's ``settings`` (its
        ``params.plot``); ``InputError`` (never kept) when its strokes cannot be plotted."""
        key = (job_id, count, hashlib.sha256(stored).hexdigest(),
               json.dumps(settings, sort_keys=True))
        with self._lock:
            svg = self._entries.get(key)
            if svg is not None:
                self._entries.move_to_end(key)
                return svg
        # Planned outside the lock: other plots are served meanwhile (two requests for one new
        # plot may both plan it; the answer is the same). Read as stored: a pen an older
        # release took stays drawable, the pen limit being for new requests.
        svg = plot_svg(stored, from_json(settings, stored=True)).svg
        with self._lock:
            self._entries[key] = svg
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return svg

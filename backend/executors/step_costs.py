"""One device's step costs, one per precision its jobs run in: on a GPU an fp32 step costs more
than an fp16 one, so a job is estimated with the cost of the precision it asks for.

The default precision's cost is measured when the worker starts; another one the first time a
job asks for it (a few real steps, once per precision per device, whether it worked or not),
and every job then refreshes the cost of the precision it ran in.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sketchify.core.config import Execution, resolved_precision
from sketchify.core.timing.estimate import measure_step_cost, refreshed

log = logging.getLogger(__name__)


class StepCosts:
    """Seconds one sketch view costs per step on ``sketcher``'s device, per precision."""

    def __init__(self, sketcher: Any) -> None:
        self.sketcher = sketcher
        self._costs: dict[str, float] = {}  # resolved precision -> cost
        self._tried: set[str] = set()
        self._lock = threading.Lock()

    def measure(self, precision: str = "auto") -> None:
        """Time a few steps in ``precision`` unless that was tried before on this device."""
        resolved = resolved_precision(precision, self.sketcher.device)
        with self._lock:
            if resolved in self._tried:
                return
            self._tried.add(resolved)
        device = str(self.sketcher.device)
        log.info("measuring the %s step cost on %s (a few real steps, for estimates)",
                 resolved, device)
        try:
            cost = measure_step_cost(self.sketcher, execution=Execution(precision=resolved))
        except Exception:  # no estimates in this precision here, but its jobs still run
            log.exception("could not measure the %s step cost on %s", resolved, device)
            return
        with self._lock:
            self._costs.setdefault(resolved, cost)  # a job's own timing may have come first
        log.info("%s step cost on %s: %.4g s per sketch view per step", resolved, device, cost)

    def refresh(self, precision: str, measured: float, steps: int) -> None:
        """After a job that ran ``steps`` steps in ``precision`` (as resolved) at ``measured``."""
        with self._lock:
            self._costs[precision] = refreshed(self._costs.get(precision), measured, steps)

    def default(self) -> float | None:
        """The cost in the precision this device runs ``auto`` jobs in."""
        with self._lock:
            return self._costs.get(resolved_precision("auto", self.sketcher.device))

    def by_precision(self) -> dict[str, float]:
        with self._lock:
            return dict(self._costs)

"""The helpers the extension's tests share (the stand-in backend, the test cases' base, the
Inkscape driver) sit in helpers/, importable by name as the shared ones in tests/support are."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "helpers"))

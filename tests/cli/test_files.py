"""Result files: written atomically, with the permissions of any file the user creates."""

from __future__ import annotations

import os
import stat

import pytest

from sketchify.core.output.files import write_all


@pytest.mark.parametrize(("umask", "mode"), [(0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_follow_the_umask(tmp_path, umask, mode):
    target = tmp_path / "new" / "a.svg"
    target.parent.mkdir()
    previous = os.umask(umask)
    try:
        write_all({target: "<svg/>", tmp_path / "b.png": b"PNG"})
    finally:
        os.umask(previous)
    assert stat.S_IMODE(target.stat().st_mode) == mode
    assert target.read_text() == "<svg/>" and (tmp_path / "b.png").read_bytes() == b"PNG"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.svg"]  # no temporary left


def test_a_failed_write_leaves_nothing_behind(tmp_path):
    keep = tmp_path / "keep.svg"
    keep.write_text("old")
    with pytest.raises(OSError):  # the second file's folder is a file
        write_all({tmp_path / "first.svg": "new", keep / "x.svg": "never"})
    assert keep.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.svg"]

"""Atomic writes: the old file survives a failed write, permissions follow the umask."""

from __future__ import annotations

import os
import stat

import pytest

from genlab.fileio import atomic_write, atomic_write_bytes


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"old")

    def crash_mid_write() -> None:
        with atomic_write(target) as handle:
            handle.write(b"half of the new")
            raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError):
        crash_mid_write()
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_finished_file_gets_the_default_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "f.bin", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f.bin").stat().st_mode) == 0o644

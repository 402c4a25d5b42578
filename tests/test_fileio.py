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


def test_write_json_is_standard_json_even_with_non_finite_numbers(tmp_path):
    import json
    import math

    from genlab.fileio import write_json

    path = tmp_path / "values.json"
    write_json(path, {"b": [1.5, math.inf], "a": {"nan": math.nan}, "n": 3})
    text = path.read_text()
    assert "NaN" not in text  # Python's non-standard tokens
    assert "Infinity" not in text
    assert json.loads(text, parse_constant=lambda name: pytest.fail(name)) == {
        "a": {"nan": "nan"},
        "b": [1.5, "inf"],
        "n": 3,
    }
    assert text.index('"a"') < text.index('"b"')  # sorted keys


def test_removed_on_failure_removes_only_what_the_block_created(tmp_path):
    from genlab.fileio import removed_on_failure

    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "old.txt").write_text("before")
    new_file, new_tree = kept / "new.txt", tmp_path / "a" / "b" / "c.npz"

    def write_half_then_fail() -> None:
        with removed_on_failure(new_file, new_tree, kept):
            new_file.write_text("half")
            new_tree.parent.mkdir(parents=True)
            new_tree.write_bytes(b"half")
            raise RuntimeError("failed midway")

    with pytest.raises(RuntimeError, match="failed midway"):
        write_half_then_fail()
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "kept",
        "kept/old.txt",
    ]


def test_removed_on_failure_keeps_everything_on_success(tmp_path):
    from genlab.fileio import removed_on_failure

    target = tmp_path / "a" / "out.txt"
    with removed_on_failure(target):
        target.parent.mkdir()
        target.write_text("done")
    assert target.read_text() == "done"

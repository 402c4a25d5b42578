"""Containers (`genlab.data.containers`): which paths are containers, and what a listing holds.

Reading images through them, archive formats and hostile members are covered with the folder
data set in test_image_folder.py.
"""

from __future__ import annotations

import tarfile
import zipfile

import pytest

from genlab.data.containers import (
    DirectoryContainer,
    TarContainer,
    ZipContainer,
    container_kind,
    list_container,
    open_container,
    read_member,
)
from genlab.errors import DataUnavailableError, GenlabError


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "root"
    (root / "cat").mkdir(parents=True)
    (root / "cat" / "a.png").write_bytes(b"png bytes")
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / ".hidden.png").write_bytes(b"hidden")
    return root


def test_container_kinds(tmp_path, folder):
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as archive:
        archive.write(folder / "cat" / "a.png", "cat/a.png")
    for name, mode in (("a.tar", "w"), ("a.tar.gz", "w:gz"), ("a.tar.xz", "w:xz")):
        with tarfile.open(tmp_path / name, mode) as archive:
            archive.add(folder / "cat" / "a.png", "cat/a.png")
    (tmp_path / "notes.txt").write_text("hello")
    assert container_kind(folder) == "folder"
    assert container_kind(tmp_path / "a.zip") == "zip"
    assert container_kind(tmp_path / "a.tar") == "tar"
    assert container_kind(tmp_path / "a.tar.gz") == "tar"
    assert container_kind(tmp_path / "a.tar.xz") == "tar"
    assert container_kind(tmp_path / "notes.txt") is None
    assert isinstance(open_container(folder), DirectoryContainer)
    assert isinstance(open_container(tmp_path / "a.zip"), ZipContainer)
    assert isinstance(open_container(tmp_path / "a.tar.gz"), TarContainer)
    with pytest.raises(GenlabError, match=r"not a folder, \.zip or \.tar archive"):
        open_container(tmp_path / "notes.txt")
    with pytest.raises(DataUnavailableError, match="no such file or folder"):
        open_container(tmp_path / "missing")


@pytest.mark.parametrize("kind", ["folder", "zip", "tar"])
def test_a_listing_holds_images_and_names_the_rest(tmp_path, folder, kind):
    path = folder
    if kind == "zip":
        path = tmp_path / "a.zip"
        with zipfile.ZipFile(path, "w") as archive:
            for file in sorted(folder.rglob("*.*")):
                archive.write(file, file.relative_to(folder).as_posix())
    elif kind == "tar":
        path = tmp_path / "a.tar"
        with tarfile.open(path, "w") as archive:
            archive.add(folder, arcname=".")
    container = open_container(path)
    listing = list_container(container)
    assert sorted(listing.images) == ["cat/a.png"]
    assert sorted(listing.ignored) == [".hidden.png", "cat/notes.txt"]
    assert listing.bad == []
    data = read_member(container, "cat/a.png", listing.images["cat/a.png"])
    assert (data.read_bytes() if kind == "folder" else data) == b"png bytes"

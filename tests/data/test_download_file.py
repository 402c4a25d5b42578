"""Downloads: checksums, mirror fallback, atomicity, offline messages; local servers only."""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from genlab.data import download as dl
from genlab.errors import ChecksumError, DataUnavailableError

PAYLOAD = bytes(range(256)) * 5000  # 1.28 MB: several read chunks
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves /good (the payload), /bad (other bytes), /short (a body cut off early), else 404."""

    def do_GET(self):
        if self.path == "/good":
            self._reply(PAYLOAD, len(PAYLOAD))
        elif self.path == "/bad":
            self._reply(b"not the file", 12)
        elif self.path == "/short":
            # Promise the full length, send half, close: a dropped connection mid-download.
            self._reply(PAYLOAD[: len(PAYLOAD) // 2], len(PAYLOAD))
            self.close_connection = True
        else:
            self.send_error(404)

    def _reply(self, body: bytes, length: int) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep test output clean
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture
def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens: the connection is refused at once."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/file"


def _folder_listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_sha256_file_matches_hashlib(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(PAYLOAD)
    assert dl.sha256_file(path) == PAYLOAD_SHA
    (tmp_path / "empty").write_bytes(b"")
    assert dl.sha256_file(tmp_path / "empty") == hashlib.sha256(b"").hexdigest()


def test_download_over_http(server, tmp_path):
    dest = tmp_path / "sub" / "file.bin"
    assert dl.download_file([f"{server}/good"], dest, sha256=PAYLOAD_SHA, progress=False) == dest
    assert dest.read_bytes() == PAYLOAD
    assert _folder_listing(dest.parent) == ["file.bin"]


def test_download_from_file_url(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(PAYLOAD)
    dest = tmp_path / "out" / "copy.bin"
    dl.download_file([source.as_uri()], dest, sha256=PAYLOAD_SHA.upper(), progress=False)
    assert dest.read_bytes() == PAYLOAD


def test_mirror_fallback_skips_missing_bad_and_truncated(server, tmp_path, closed_port_url):
    dest = tmp_path / "file.bin"
    urls = [closed_port_url, f"{server}/missing", f"{server}/bad", f"{server}/short"]
    dl.download_file([*urls, f"{server}/good"], dest, sha256=PAYLOAD_SHA, progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert _folder_listing(tmp_path) == ["file.bin"]


def test_hash_mismatch_leaves_no_file(server, tmp_path):
    dest = tmp_path / "file.bin"
    with pytest.raises(ChecksumError, match="expected " + PAYLOAD_SHA):
        dl.download_file([f"{server}/bad"], dest, sha256=PAYLOAD_SHA, progress=False)
    assert _folder_listing(tmp_path) == []


def test_truncated_download_leaves_no_partial_file_and_keeps_old_one(server, tmp_path):
    dest = tmp_path / "file.bin"
    dest.write_bytes(b"previous contents")
    with pytest.raises(
        DataUnavailableError, match="connection closed after 640000 of 1280000 bytes"
    ):
        dl.download_file([f"{server}/short"], dest, sha256=PAYLOAD_SHA, progress=False)
    assert dest.read_bytes() == b"previous contents"
    assert _folder_listing(tmp_path) == ["file.bin"]


def test_interrupt_during_download_removes_temp_file(server, tmp_path, monkeypatch):
    """Even a KeyboardInterrupt in the middle of the stream cleans up after itself."""

    def explode(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(dl.hashlib, "sha256", explode)
    with pytest.raises(KeyboardInterrupt):
        dl.download_file([f"{server}/good"], tmp_path / "f.bin", sha256=PAYLOAD_SHA, progress=False)
    assert _folder_listing(tmp_path) == []


def test_ensure_file_downloads_when_absent_then_reuses(server, tmp_path):
    dest = tmp_path / "file.bin"
    got = dl.ensure_file(
        dest, urls=[f"{server}/good"], sha256=PAYLOAD_SHA, what="test data", progress=False
    )
    assert got == dest
    assert dest.read_bytes() == PAYLOAD
    # A second call must not download: no mirror is reachable now.
    assert dl.ensure_file(dest, urls=[], sha256=PAYLOAD_SHA, what="test data") == dest


def test_ensure_file_wrong_hash_names_file_hashes_and_fix(tmp_path):
    dest = tmp_path / "file.bin"
    dest.write_bytes(b"corrupted")
    found = hashlib.sha256(b"corrupted").hexdigest()
    with pytest.raises(ChecksumError) as info:
        dl.ensure_file(dest, urls=["https://example.org/f"], sha256=PAYLOAD_SHA, what="test data")
    message = str(info.value)
    for part in (str(dest), PAYLOAD_SHA, found, "delete it", "https://example.org/f"):
        assert part in message


def test_ensure_file_offline_says_where_to_put_the_file(tmp_path, closed_port_url):
    dest = tmp_path / "data" / "file.bin"
    missing_file_url = (tmp_path / "nowhere.bin").as_uri()
    with pytest.raises(DataUnavailableError) as info:
        dl.ensure_file(
            dest,
            urls=[closed_port_url, missing_file_url],
            sha256=PAYLOAD_SHA,
            what="test data",
            progress=False,
        )
    message = str(info.value)
    for part in ("test data", f"put file.bin at {dest}", closed_port_url, missing_file_url):
        assert part in message
    assert not dest.exists()
    assert _folder_listing(dest.parent) == []


def test_ensure_file_download_off(tmp_path):
    dest = tmp_path / "file.bin"
    with pytest.raises(DataUnavailableError, match="downloading is off"):
        dl.ensure_file(
            dest, urls=["https://example.org/f"], sha256=PAYLOAD_SHA, what="x", download=False
        )


def test_verified_hash_remembered_until_file_changes(tmp_path, monkeypatch):
    dest = tmp_path / "file.bin"
    dest.write_bytes(PAYLOAD)
    dl.ensure_file(dest, urls=[], sha256=PAYLOAD_SHA, what="x")
    calls = []
    original = dl.sha256_file
    monkeypatch.setattr(dl, "sha256_file", lambda path: calls.append(path) or original(path))
    dl.ensure_file(dest, urls=[], sha256=PAYLOAD_SHA, what="x")
    assert calls == []
    dest.write_bytes(b"changed!")  # different size: the remembered hash no longer applies
    with pytest.raises(ChecksumError):
        dl.ensure_file(dest, urls=[], sha256=PAYLOAD_SHA, what="x")
    assert calls == [dest]

"""Resolution order of the data and cache folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from genlab.data.dirs import resolve_cache_dir, resolve_data_dir


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in ("GENLAB_DATA_DIR", "GENLAB_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return monkeypatch


def test_explicit_argument_wins_over_environment(clean_env, tmp_path):
    clean_env.setenv("GENLAB_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "explicit") == tmp_path / "explicit"
    assert resolve_data_dir(str(tmp_path / "explicit")) == tmp_path / "explicit"


def test_environment_variable_used_without_argument(clean_env, tmp_path):
    clean_env.setenv("GENLAB_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir() == tmp_path / "env"
    assert resolve_data_dir(None) == tmp_path / "env"


def test_user_cache_default(clean_env, tmp_path):
    assert resolve_data_dir() == tmp_path / "home" / ".cache" / "genlab" / "data"
    assert resolve_cache_dir() == tmp_path / "home" / ".cache" / "genlab"


def test_xdg_cache_home_respected_when_absolute(clean_env, tmp_path):
    clean_env.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_data_dir() == tmp_path / "xdg" / "genlab" / "data"
    assert resolve_cache_dir() == tmp_path / "xdg" / "genlab"
    clean_env.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert resolve_cache_dir() == tmp_path / "home" / ".cache" / "genlab"


def test_cache_dir_environment_variable(clean_env, tmp_path):
    clean_env.setenv("GENLAB_CACHE_DIR", str(tmp_path / "cache"))
    assert resolve_cache_dir() == tmp_path / "cache"


def test_resolving_creates_nothing(clean_env, tmp_path):
    resolve_data_dir()
    resolve_cache_dir()
    assert not (tmp_path / "home").exists()


def test_tilde_expanded(clean_env, tmp_path):
    assert resolve_data_dir("~/d") == Path(tmp_path / "home" / "d")

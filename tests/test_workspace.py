"""Opening an installation: data folder, master key (env or 0600 file), schema, defaults."""

from __future__ import annotations

import base64
import stat

import pytest

from promptvault.config import Settings, load_settings
from promptvault.errors import ConfigurationError
from promptvault.master_key import load_master_keys
from promptvault.store.migrate import current_revision, head_revision
from promptvault.workspace import open_workspace


def settings_for(tmp_path, master_key=None) -> Settings:
    """Settings for a fresh SQLite workspace."""
    data = tmp_path / "data"
    return Settings(data_dir=data, database_url=f"sqlite:///{data / 'pv.db'}", master_key=master_key)


def test_load_settings_defaults_to_data_folder_and_sqlite(tmp_path):
    settings = load_settings({"PROMPTVAULT_DATA_DIR": str(tmp_path / "d")})
    assert settings.data_dir == (tmp_path / "d").resolve()
    assert settings.database_url == f"sqlite:///{(tmp_path / 'd').resolve() / 'promptvault.db'}"


def test_open_workspace_creates_key_file_0600_and_migrates(tmp_path):
    ws = open_workspace(settings_for(tmp_path))
    key_file = ws.settings.master_key_file
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert list(load_master_keys(ws.settings)) == [1]
    assert current_revision(ws.db.engine) == head_revision()
    assert ws.local_context().actor.email == "local@promptvault"


def test_open_workspace_twice_keeps_the_key(tmp_path):
    first = open_workspace(settings_for(tmp_path)).settings.master_key_file.read_bytes()
    assert open_workspace(settings_for(tmp_path)).settings.master_key_file.read_bytes() == first


def test_master_key_from_environment_skips_the_file(tmp_path):
    key = "v1:" + base64.urlsafe_b64encode(b"k" * 32).decode()
    ws = open_workspace(settings_for(tmp_path, master_key=key))
    assert not ws.settings.master_key_file.exists()
    assert load_master_keys(ws.settings) == {1: b"k" * 32}


@pytest.mark.parametrize(
    "key, problem",
    [
        ("", "empty"),
        ("not-a-key", "not of the form vN:<base64>"),
        ("v1:!!!!", "not valid base64|must be 32 bytes"),
        ("v1:" + base64.urlsafe_b64encode(b"short").decode(), "must be 32 bytes, not 5"),
    ],
)
def test_malformed_master_key_stops_start_up(tmp_path, key, problem):
    settings = settings_for(tmp_path, master_key=key or None)
    if not key:
        settings.data_dir.mkdir(parents=True)
        settings.master_key_file.write_text("")
        settings.master_key_file.chmod(0o600)
    with pytest.raises(ConfigurationError, match=problem):
        open_workspace(settings)


def test_key_file_readable_by_others_is_refused(tmp_path):
    ws = open_workspace(settings_for(tmp_path))
    ws.settings.master_key_file.chmod(0o644)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        open_workspace(settings_for(tmp_path))


def test_bad_database_url_is_a_clear_error(tmp_path):
    settings = Settings(data_dir=tmp_path, database_url="nosuchdb://x", master_key=None)
    with pytest.raises(ConfigurationError, match="cannot use database URL"):
        open_workspace(settings)

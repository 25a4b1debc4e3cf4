"""Settings precedence: flags > environment > auditml.toml > defaults."""

from pathlib import Path

import pytest

from auditml.config import load_settings
from auditml.errors import ConfigError


def test_defaults(isolated: Path) -> None:
    settings = load_settings()
    assert settings.url == "sqlite:///auditml.db" and settings.key_dir == Path(".auditml")
    assert settings.checkpoint_every_events == 1000 and settings.max_payload_bytes == 256 * 1024


def test_precedence_and_relative_paths(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (isolated / "auditml.toml").write_text(
        '[auditml]\nurl = "sqlite:///data/l.db"\nkey_dir = "keys"\n'
    )
    settings = load_settings()
    assert settings.url == f"sqlite:///{isolated / 'data' / 'l.db'}"  # relative to the file
    assert settings.key_dir == isolated / "keys"
    monkeypatch.setenv("AUDITML_URL", "sqlite:////tmp/env.db")
    assert load_settings().url == "sqlite:////tmp/env.db"
    assert load_settings(url="sqlite:////tmp/flag.db").url == "sqlite:////tmp/flag.db"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[auditml]\nurll = 'x'\n", "unknown setting 'urll'"),
        ("[auditml]\ncheckpoint_every_events = 'ten'\n", "wrong type"),
        ("not toml [", "not valid TOML"),
    ],
)
def test_bad_config_is_a_clear_error(isolated: Path, text: str, message: str) -> None:
    (isolated / "auditml.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings()

"""Settings: flags > environment (AUDITML_*) > auditml.toml > defaults.

`auditml.toml` is looked up in the working directory (or AUDITML_CONFIG names it).
Relative paths in it are relative to the file's directory, so a project can be run
from anywhere once its config is found.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from auditml.errors import ConfigError

CONFIG_FILE = "auditml.toml"
DEFAULT_URL = "sqlite:///auditml.db"
DEFAULT_KEY_DIR = ".auditml"


@dataclass(frozen=True)
class Settings:
    """Resolved settings for one ledger."""

    url: str = DEFAULT_URL
    #: Directory holding the ledger key and its public verifier key.
    key_dir: Path = Path(DEFAULT_KEY_DIR)
    #: Sign a checkpoint automatically after this many new events (0 turns it off).
    checkpoint_every_events: int = 1000
    #: ... or when the last checkpoint is older than this many seconds (0 turns it off).
    checkpoint_every_seconds: float = 300.0
    #: Largest canonical payload accepted, in bytes.
    max_payload_bytes: int = 256 * 1024
    #: The config file these settings came from, if any.
    source: Path | None = None


_ENV = {
    "AUDITML_URL": "url",
    "AUDITML_HOME": "key_dir",
}
_TOML_KEYS: dict[str, type | tuple[type, ...]] = {
    "url": str,
    "key_dir": str,
    "checkpoint_every_events": int,
    "checkpoint_every_seconds": (int, float),
    "max_payload_bytes": int,
}


def config_path(cwd: Path | None = None) -> Path:
    """Return where auditml.toml is (or would be) for this process."""
    named = os.environ.get("AUDITML_CONFIG")
    return Path(named) if named else (cwd or Path.cwd()) / CONFIG_FILE


def _sqlite_url_relative_to(url: str, base: Path) -> str:
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
        return prefix + str((base / url[len(prefix) :]).resolve())
    return url


def load_settings(**overrides: Any) -> Settings:
    """Resolve settings from overrides (flags), the environment, auditml.toml and defaults.

    Overrides that are None are ignored. Raises ConfigError for a malformed config file.
    """
    settings = Settings()
    path = config_path()
    if path.exists():
        try:
            data = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
        section = data.get("auditml", data)
        values: dict[str, Any] = {"source": path}
        for key, value in section.items():
            if key not in _TOML_KEYS:
                raise ConfigError(
                    f"{path}: unknown setting {key!r}; known: {', '.join(_TOML_KEYS)}"
                )
            if not isinstance(value, _TOML_KEYS[key]) or isinstance(value, bool):
                raise ConfigError(
                    f"{path}: setting {key!r} has the wrong type ({type(value).__name__})"
                )
            values[key] = value
        base = path.parent
        if "url" in values:
            values["url"] = _sqlite_url_relative_to(values["url"], base)
        if "key_dir" in values:
            values["key_dir"] = (base / values["key_dir"]).resolve()
        settings = replace(settings, **values)
    changes: dict[str, Any] = {}
    for env, field in _ENV.items():
        if os.environ.get(env):
            value = os.environ[env]
            changes[field] = Path(value) if field == "key_dir" else value
    for key, value in overrides.items():
        if value is not None:
            changes[key] = Path(value) if key == "key_dir" else value
    return replace(settings, **changes)


def write_config(path: Path, *, url: str, key_dir: str) -> None:
    """Write a minimal auditml.toml; raise ConfigError if one exists already."""
    if path.exists():
        raise ConfigError(f"{path} already exists; edit it or remove it first")
    path.write_text(
        "# auditml settings; flags and AUDITML_* environment variables override these.\n"
        "[auditml]\n"
        f"url = {_toml_string(url)}\n"
        f"key_dir = {_toml_string(key_dir)}\n"
        "checkpoint_every_events = 1000\n"
        "checkpoint_every_seconds = 300\n"
    )


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

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
DEFAULT_SIGNER_ROLE = "Compliance officer"
DEFAULT_SIGNATURE_MEANING = (
    "I attest that this report was generated from the ledger named on its cover "
    "and that the findings are as stated."
)


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
    #: Sign reports with this PKCS#12 file instead of the key directory's identity
    #: (its passphrase comes from AUDITML_SIGNER_PASSPHRASE).
    signer_pkcs12: Path | None = None
    #: ... or with this PEM private key, its PEM certificate and (optionally) a PEM file of
    #: issuer certificates (the key's passphrase comes from AUDITML_SIGNER_PASSPHRASE).
    signer_key: Path | None = None
    signer_cert: Path | None = None
    signer_chain: Path | None = None
    #: Printed on the report and put in the signature; None means the certificate's CN.
    signer_name: str | None = None
    signer_role: str = DEFAULT_SIGNER_ROLE
    #: What the signature means (21 CFR Part 11 §11.50 style).
    signature_meaning: str = DEFAULT_SIGNATURE_MEANING
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
    "signer_pkcs12": str,
    "signer_key": str,
    "signer_cert": str,
    "signer_chain": str,
    "signer_name": str,
    "signer_role": str,
    "signature_meaning": str,
}
#: Settings holding file paths: relative to the config file, Path objects when resolved.
_PATH_KEYS = ("key_dir", "signer_pkcs12", "signer_key", "signer_cert", "signer_chain")


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
        for key in _PATH_KEYS:
            if key in values:
                values[key] = (base / values[key]).resolve()
        settings = replace(settings, **values)
    changes: dict[str, Any] = {}
    for env, field in _ENV.items():
        if os.environ.get(env):
            value = os.environ[env]
            changes[field] = Path(value) if field == "key_dir" else value
    for key, value in overrides.items():
        if value is not None:
            changes[key] = Path(value) if key in _PATH_KEYS else value
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
        "# Report signing: by default the identity in key_dir (made by `auditml init`).\n"
        "# To sign with your own certificate instead, set signer_pkcs12 (passphrase in\n"
        "# AUDITML_SIGNER_PASSPHRASE) or signer_key + signer_cert (+ signer_chain).\n"
        '# signer_name = "Jane Doe"\n'
        f"# signer_role = {_toml_string(DEFAULT_SIGNER_ROLE)}\n"
    )


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

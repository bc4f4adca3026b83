"""Secrets: finding them (``detect``), masking them on the way out (``redact``),
scanning an archive (``scan``), and forgetting or rewriting what was kept (``ops``,
``rules``). docs/privacy.md says what each covers."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

ENV_SWITCH = "POLYLOGUE_REDACT_SERVERS"
CONFIG_NAME = "config.toml"


def server_redaction(home: str | os.PathLike) -> tuple[bool, str]:
    """Whether servers (MCP, ``serve``) mask secrets, and a line saying so. On by
    default; ``POLYLOGUE_REDACT_SERVERS=0`` or ``[privacy] redact_servers = false`` in
    ``<home>/config.toml`` turns it off (the variable wins). A config file that
    cannot be read keeps redaction on, and the note says why."""
    env = os.environ.get(ENV_SWITCH)
    if env is not None and env.strip():
        on = env.strip().lower() not in ("0", "false", "no", "off")
        return on, _note(on, f"${ENV_SWITCH}={env.strip()}")
    path = Path(home).expanduser() / CONFIG_NAME
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return True, _note(True, "the default")
    except (OSError, tomllib.TOMLDecodeError) as e:
        return True, f"secrets are redacted ({path} could not be read: {e})"
    value = data.get("privacy", {}).get("redact_servers", True) if isinstance(data.get("privacy"), dict) else True
    on = value is not False
    return on, _note(on, f"redact_servers in {path}")


def _note(on: bool, why: str) -> str:
    if on:
        return f"secrets in conversation text are redacted ({why})"
    return f"secrets are NOT redacted: redaction is off ({why})"

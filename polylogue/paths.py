"""Where the archive lives: --home, $POLYLOGUE_HOME, or $XDG_DATA_HOME/polylogue."""

from __future__ import annotations

import os
from pathlib import Path


def default_home() -> Path:
    env = os.environ.get("POLYLOGUE_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(xdg) / "polylogue"

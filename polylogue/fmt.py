"""How values are written out, for people and for JSON: times as ISO 8601 UTC
(``...Z``), text clipped to a width. One definition each; no imports of ours."""

from __future__ import annotations

from datetime import UTC, datetime

ELLIPSIS = "…"


def iso_utc(dt: datetime | None) -> str | None:
    """A timezone-aware UTC time as ISO 8601 with a ``Z`` (None stays None)."""
    return None if dt is None else dt.isoformat().replace("+00:00", "Z")


def iso_from_ms(ms: int | None) -> str | None:
    """A stored time (milliseconds since the epoch, UTC) as ISO 8601 with a ``Z``."""
    return None if ms is None else iso_utc(datetime.fromtimestamp(ms / 1000, tz=UTC))


def clip(s: str | None, limit: int) -> str | None:
    """At most ``limit`` characters: a longer text is cut and ends with an ellipsis."""
    if s is None or len(s) <= limit:
        return s
    return s[: limit - 1] + ELLIPSIS


def one_line(s: str, limit: int | None = None) -> str:
    """Runs of whitespace (newlines too) as one space; clipped to ``limit`` if given."""
    s = " ".join(s.split())
    return s if limit is None else clip(s, limit)  # type: ignore[return-value]

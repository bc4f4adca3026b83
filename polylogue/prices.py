"""Model prices (docs/usage.md, "Prices"): the dated table shipped as package data
(polylogue/data/prices.json), overridden or extended by ``<home>/prices.json`` of
the same shape. Never fetched: no network at run time.

A model is matched by its exact name, then by its name normalised (lower case,
a ``vendor/`` prefix, a date suffix such as ``-20250929`` or ``@20250929`` and
``-latest`` dropped), against each row's model and aliases. Nothing looser: an
unknown model (``claude-opus-9``) is never priced like a known prefix of it, so
its cost stays unknown (None), never 0."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import QueryError as UsageError

RATES = ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h")
_DATE = re.compile(r"(?:[-@](?:20\d{2}-?\d{2}-?\d{2}|\d{4}|latest))+$")


@dataclass(frozen=True)
class Price:
    model: str
    rates: dict[str, float | None]
    long_context: dict[str, Any] | None
    effective: str | None
    source: str | None
    origin: str  # "shipped" or "user"
    note: str | None = None
    aliases: tuple[str, ...] = ()


def normalise(name: str) -> str:
    n = name.strip().lower()
    n = n.rsplit("/", 1)[-1]  # anthropic/claude-..., models/gemini-...
    return _DATE.sub("", n)


def _rate(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 else None


def _rows(doc: Any, origin: str, where: str) -> list[Price]:
    models = doc.get("models") if isinstance(doc, dict) else None
    if not isinstance(models, list):
        raise UsageError(f'{where}: expected {{"models": [...]}}')
    out = []
    for row in models:
        if not isinstance(row, dict) or not isinstance(row.get("model"), str) or not row["model"].strip():
            raise UsageError(f'{where}: every row needs a "model" name')
        long = row.get("long_context") if isinstance(row.get("long_context"), dict) else None
        aliases = tuple(a for a in row.get("aliases") or [] if isinstance(a, str) and a.strip())
        out.append(
            Price(
                row["model"],
                {k: _rate(row.get(k)) for k in RATES},
                long,
                row.get("effective") if isinstance(row.get("effective"), str) else None,
                row.get("source") if isinstance(row.get("source"), str) else None,
                origin,
                row.get("note") if isinstance(row.get("note"), str) else None,
                aliases,
            )
        )
    return out


def shipped() -> list[Price]:
    text = resources.files("polylogue").joinpath("data/prices.json").read_text(encoding="utf-8")
    return _rows(json.loads(text), "shipped", "polylogue/data/prices.json")


def user_file(home: Path | str | None) -> Path | None:
    return None if home is None else Path(home) / "prices.json"


def load(home: Path | str | None = None) -> PriceTable:
    rows = shipped()
    path = user_file(home)
    if path is not None and path.is_file():
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise UsageError(f"{path}: not a readable price table ({e})") from None
        rows += _rows(doc, "user", str(path))
    return PriceTable(rows)


class PriceTable:
    """Rows by exact and by normalised name; a user row replaces a shipped one."""

    def __init__(self, rows: list[Price]):
        self.rows: dict[str, Price] = {}
        for p in rows:  # later (user) rows win
            for name in (p.model, *p.aliases):
                self.rows[name] = p
        self._norm = {normalise(name): p for name, p in self.rows.items()}
        self._found: dict[str, Price | None] = {}

    def find(self, model: str) -> Price | None:
        if not model:
            return None
        try:
            return self._found[model]
        except KeyError:  # a report asks for the same few models per row: looked up once
            p = self._found[model] = self.rows.get(model) or self._norm.get(normalise(model))
            return p

    def in_effect(self) -> list[Price]:
        seen: dict[int, Price] = {id(p): p for p in self.rows.values()}
        return sorted(seen.values(), key=lambda p: (p.origin != "user", p.model))

    def cost(self, model: str, tier: str, long: int, lanes: dict[str, int]) -> tuple[float | None, str | None]:
        """(USD, None), or (None, why) when any lane with tokens has no price."""
        p = self.find(model)
        if p is None:
            return None, f"no price for {model or 'an unnamed model'}"
        if tier:
            return None, f"no price for service tier {tier!r} of {model}"
        rates = dict(p.rates)
        if long and p.long_context:
            rates.update({k: _rate(v) for k, v in p.long_context.items() if k in RATES})
        w5 = lanes.get("cache_write_5m", 0)
        w1 = lanes.get("cache_write_1h", 0)
        parts = (
            ("input", lanes.get("input", 0)),
            ("output", lanes.get("output", 0)),
            ("cache_read", lanes.get("cache_read", 0)),
            # a write whose duration is not told is the default, 5 minutes
            ("cache_write_5m", w5 + max(lanes.get("cache_write", 0) - w5 - w1, 0)),
            ("cache_write_1h", w1),
        )
        total = 0.0
        for rate, tokens in parts:
            if not tokens:
                continue
            r = rates.get(rate)
            if r is None:
                return None, f"no {rate.replace('_', ' ')} price for {model}"
            total += tokens * r / 1e6
        return total, None

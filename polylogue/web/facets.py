"""Facet counts for the search page: how many conversations the current search
finds per provider, role and kind, each value a link that adds it as a filter.

Each count is the total of the same search with that filter added
(``Archive.search``), so a facet says exactly what clicking it will show, on
either archive (SQLite or the shared PostgreSQL one), and the values of one
facet add up to the search's total. Counting costs a search per value (14 in
all), so the page asks for it apart (``/facets``, fetched after the results)
within a time budget: a value not counted in time says so rather than guess."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

# facet fields with a short, closed list of values (project and model are open-ended:
# the page's text filters and the projects view serve them)
COUNTED = ("provider", "role", "kind")
LABELS = {"provider": "Provider", "role": "Role", "kind": "Kind"}
BUDGET_S = 2.0


@dataclass
class FacetValue:
    value: str
    count: int | None  # None: not counted within the budget
    url: str
    selected: bool = False


@dataclass
class Facet:
    name: str
    label: str
    values: list[FacetValue] = field(default_factory=list)

    @property
    def uncounted(self) -> int:
        return sum(1 for v in self.values if v.count is None)


def count_facets(
    search,
    q: str,
    filters: dict[str, str],
    choices: dict[str, tuple[str, ...]],
    *,
    budget_s: float = BUDGET_S,
    clock=time.monotonic,
) -> list[Facet]:
    """The facets of the search ``q`` with ``filters`` (field -> value, the page's own).
    ``search(q, timeout=seconds, **filters)`` is Archive.search (SearchTimeout past the time);
    ``choices``: each counted field's values. A field the filters fix shows just that
    value, with the search's total, linking to the search without it; values that
    match nothing are left out."""
    deadline = clock() + budget_s
    facets = []
    for name in COUNTED:
        facet = Facet(name, LABELS[name])
        picked = filters.get(name)
        for value in (picked,) if picked else choices.get(name, ()):
            wanted = {**filters, name: value}
            count = _count(search, q, wanted, deadline - clock())
            if count == 0 and not picked:
                continue
            # a value adds its filter; the one the filters fix takes it away
            linked = {k: v for k, v in wanted.items() if v and not (picked and k == name)}
            url = "/search?" + urlencode({"q": q, **linked})
            facet.values.append(FacetValue(value, count, url, selected=bool(picked)))
        facet.values.sort(key=lambda v: (v.count is None, -(v.count or 0), v.value))
        facets.append(facet)
    return facets


def _count(search, q: str, filters: dict[str, str], seconds: float) -> int | None:
    """The search's total of conversations, or None if it cannot be had within ``seconds``."""
    from ..errors import SearchTimeout

    if seconds <= 0:
        return None
    try:
        return search(q, timeout=seconds, **filters).total_conversations
    except SearchTimeout:
        return None


def facet_key(q: str, filters: dict[str, Any], generation: int) -> tuple:
    """The cache key of one search's facets: they change only with the archive."""
    return (q, tuple(sorted((k, v) for k, v in filters.items() if v)), generation)

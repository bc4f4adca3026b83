"""The prefilter of secret detection: one pattern that any text holding a
finding matches (``PATTERN``), tested before any detector runs.

It is written from the detectors' own patterns (detect.py and the
detect-secrets plugins it uses), each reduced to the part it cannot match
without: ``AKIA…``, ``ghp_``, ``sk-``, a name like ``API_KEY`` followed by
what an assignment needs, and so on. So a text it does not match holds no
finding, and a scan skips it (tests/test_privacy.py checks both with
hypothesis: findings are the same with and without the gate).

Speed is the point: most messages hold no secret, and the gate is all they
cost. Python's ``re`` tries each alternative at every position (~30 us per
message for a list of literals, 200 us for this pattern); RE2 runs it as one
automaton (~3 us per message, most of it the call: ``hits`` tests a batch of
stored messages in one call). Without the ``google-re2`` package the same
pattern runs in ``re``: the same findings, slower.

The pattern must also hold over the stored JSON of a message, where ``"``,
``\\`` and control characters are escaped (``\\"``, ``\\n``): where a detector
needs a quote or a space after a name, the gate also takes a backslash."""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from typing import Any

# Whitespace as Python's \s sees it in ASCII, written out (RE2's \s lacks \v and \x1c-\x1f);
# any non-ASCII character counts too (Unicode spaces).
_WS = r"\t\n\x0b\f\r \x1c-\x1f"
_NAME_FOLLOW = rf"(?:[\"'\\=:{_WS}]|[^\x00-\x7f])"

PARTS = (
    # AWS access keys; the secret key is found only after "aws" (detect-secrets)
    r"(?:A3T[A-Z0-9]|ABIA|ACCA|AKIA|ASIA)[0-9A-Z]{16}",
    r"(?i:aws)",
    r"eyJ[A-Za-z0-9_=\-]+\.",  # JWT
    r"AIza[0-9A-Za-z_\-]{35}",  # Google API key
    r"AccountKey=|sig=",  # Azure
    r"gh[pousr]_|github_pat_",  # GitHub
    r"gl(?:pat|dt|ft|soat|rt|cbt|imt|ptt|agent|oas)-|GR1348941",  # GitLab
    r"-us[0-9]",  # Mailchimp
    r"sk-|[rs]k_(?:live|test)_",  # OpenAI, Anthropic; Stripe
    r"SG\.|sq0csp-|pypi-|xapp-|(?i:xox[abposre]-|hooks\.slack)",  # SendGrid, Square, PyPI, Slack
    r"PRIVATE KEY|PuTTY-User-Key-File",  # PEM and PuTTY key files
    r"://[^/?#@\x00" + _WS + r"]+:[^/?#@\x00" + _WS + r"]+@",  # a password in a URL
    r"[0-9]{8,10}:[0-9A-Za-z_\-]{35}",  # Telegram bot token
    r"(?:AC|SK)[a-z0-9]{32}",  # Twilio
    r"[MNO][a-zA-Z0-9_\-]{23,25}\.[a-zA-Z0-9_\-]{6}\.",  # Discord
    # a value assigned to a secret-sounding name (detect.py's _ASSIGNED; npm's _authToken=)
    r"(?i:key|token|secret|passw(?:or)?d|pwd|credentials?)" + _NAME_FOLLOW,
)
PATTERN = "|".join(PARTS)
# No part matches NUL (JSON escapes it as \u0000): a batch joined with NUL
# cannot hold a match that spans two messages.
_SEP = b"\x00"

try:
    import re2 as _re2
except ImportError:  # pragma: no cover - the dependency is declared; the fallback keeps findings exact
    _re2 = None


def _compile() -> tuple[Any, Any]:
    if _re2 is not None:
        opts = _re2.Options()
        opts.max_mem = 64 << 20  # room for the automaton (the default 8 MB makes RE2 fall back to slower paths)
        return _re2.compile(PATTERN, opts), _re2.compile(PATTERN.encode(), opts)
    return re.compile(PATTERN), re.compile(PATTERN.encode())


_TEXT, _BYTES = _compile()
ENGINE = "re2" if _re2 is not None else "re"


def passes(text: str) -> bool:
    """Whether ``text`` may hold a finding."""
    return _TEXT.search(text) is not None


def matches(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each match in ``text``, in order."""
    for m in _TEXT.finditer(text):
        yield m.start(), m.end()


def hits(raws: list[bytes]) -> list[int]:
    """Indexes of the stored values (JSON bytes) that may hold a finding: one
    search over the batch joined, so the per-call cost is paid once."""
    if not raws:
        return []
    blob = _SEP.join(raws)
    found = [m.start() for m in _BYTES.finditer(blob)]
    if not found:
        return []
    starts, at = [], 0
    for r in raws:
        starts.append(at)
        at += len(r) + 1
    out: list[int] = []
    for pos in found:
        i = bisect.bisect_right(starts, pos) - 1
        if not out or out[-1] != i:
            out.append(i)
    return out

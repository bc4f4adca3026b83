"""Finding secrets in text: Yelp's detect-secrets plugins where they fit, our own
patterns for what they miss (docs/privacy.md, "What is detected").

Speed: detect-secrets runs ~25 regular expressions per line; over a million
messages that costs minutes. A prefilter (gate.py: one pattern built from every
detector's anchor, run by RE2) picks the texts worth analysing, and in them the
lines: most messages hold no anchor at all.

A finding is a span ``(start, end, kind)`` of the text: the secret itself,
never its surroundings. Only this module and ``redact`` ever hold the value."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from functools import lru_cache
from typing import Any, NamedTuple

from . import gate


class Span(NamedTuple):
    start: int
    end: int
    kind: str


# -- our own patterns: (kind, regex, group holding the secret) ------------------
_OWN: list[tuple[str, re.Pattern[str], int]] = [
    ("anthropic-key", re.compile(r"sk-ant-[a-z]{2,8}\d{0,3}-[A-Za-z0-9_\-]{32,200}"), 0),
    # project, service-account, admin and legacy keys; sk-ant- is Anthropic's (above)
    ("openai-key", re.compile(r"sk-(?:proj|svcacct|admin|None)-[A-Za-z0-9_\-]{20,200}"), 0),
    ("openai-key", re.compile(r"(?<![\w-])sk-[A-Za-z0-9]{48}(?![\w-])"), 0),
    # detect-secrets' JWT pattern ends lazily: it finds the header and payload, not the signature
    ("jwt", re.compile(r"eyJ[A-Za-z0-9_\-]{5,}\.eyJ[A-Za-z0-9_\-]{2,}\.[A-Za-z0-9_\-]{10,}"), 0),
    ("google-api-key", re.compile(r"AIza[0-9A-Za-z_\-]{35}"), 0),
    # a GCP service account's JSON key file: the PEM key inside "private_key", escaped
    ("gcp-service-account-key", re.compile(r'"private_key"\s*:\s*"(-----BEGIN[^"]{40,8192})"'), 1),
    ("azure-storage-key", re.compile(r"AccountKey=([A-Za-z0-9+/]{86}==)"), 1),
    ("azure-sas-signature", re.compile(r"[?&]sig=([A-Za-z0-9%+/]{40,120}(?:%3D|=){0,2})"), 1),
    ("github-token", re.compile(r"github_pat_[A-Za-z0-9_]{60,100}"), 0),
    ("github-token", re.compile(r"(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9_]{36,251}"), 0),
    # Slack tokens are mixed case (detect-secrets' pattern stops at the first capital)
    ("slack-token", re.compile(r"xox[abposre]-[A-Za-z0-9\-]{10,250}"), 0),
    ("slack-token", re.compile(r"xapp-\d-[A-Za-z0-9\-]{10,250}"), 0),
    ("stripe-key", re.compile(r"(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{24,99}"), 0),
    # a PEM private key block, whole (detect-secrets finds its first line only);
    # escaped newlines (a key inside JSON) count as newlines
    (
        "private-key",
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
            r"(?:[A-Za-z0-9+/=:,\- \t\r\n]|\\[nr]){0,16384}?"
            r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|(?=[^A-Za-z0-9+/=:,\- \t\r\n\\])|$)"
        ),
        0,
    ),
]

# A value assigned to a name that says it is secret: API_KEY=..., "password": "...",
# --token ... The value must look random (``_looks_secret``), not be a word or a placeholder.
_ASSIGNED = re.compile(
    r"(?i)(?<![a-z0-9])([a-z0-9_.\-]{0,40}(?:api[_-]?key|secret|token|passw(?:or)?d|passwd|pwd|access[_-]?key"
    r"|private[_-]?key|client[_-]?secret|auth[_-]?key|credentials?))[\"']?"
    r"(?:\s*(?:=|:=|=>|:)\s*|\s+)[\"']?([A-Za-z0-9+/=_\-.~!@#$%^&*]{8,256})"
)

# -- detect-secrets' plugins we use, by their secret_type, and our name for each --
DS_KINDS = {
    "AWS Access Key": "aws-access-key",
    "Basic Auth Credentials": "url-password",
    "Discord Bot Token": "discord-token",
    "GitHub Token": "github-token",
    "GitLab Token": "gitlab-token",
    "JSON Web Token": "jwt",
    "Mailchimp Access Key": "mailchimp-key",
    "NPM tokens": "npm-token",
    "OpenAI Token": "openai-key",
    "Private Key": "private-key",
    "PyPI Token": "pypi-token",
    "SendGrid API Key": "sendgrid-key",
    "Slack Token": "slack-token",
    "Square OAuth Secret": "square-oauth-secret",
    "Stripe Access Key": "stripe-key",
    "Telegram Bot Token": "telegram-token",
    "Twilio API Key": "twilio-key",
}
# Left out: Azure (its match includes "AccountKey="; ours masks the key alone), the high-entropy string plugins (every quoted git SHA and UUID is one),
# the keyword plugin (misses unquoted values; ``_ASSIGNED`` does it for text), public IPs
# (not secrets), and the IBM/SoftLayer/Cloudant/Artifactory keyword patterns (``_ASSIGNED``).

# Values documentation uses as examples: never live (AWS's AKIAIOSFODNN7EXAMPLE, ...)
_EXAMPLE = re.compile(r"EXAMPLE|(?i:x{6,}|your[_-]|<[a-z_]+>|placeholder|changeme|dummy|redacted)")
_REDACTED_MARK = "[REDACTED "


@lru_cache(maxsize=1)
def _ds_plugins() -> list[tuple[str, object]]:
    """detect-secrets' plugins (imported once, on first use: the import costs ~0.2 s)."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    mapping: dict[str, Any] = get_mapping_from_secret_type_to_class()
    return [(kind, mapping[t]()) for t, kind in DS_KINDS.items() if t in mapping]


def find(text: str) -> list[Span]:
    """Every secret in ``text``, as non-overlapping spans in order (the longest of
    overlapping findings wins: two patterns may see the same key)."""
    if not text or not gate.passes(text):
        return []
    return analyse(text)


def analyse(text: str, every_line: bool = False) -> list[Span]:
    """``find`` past the gate; ``every_line``: the line detectors on every line, not
    just those the gate matches in (tests compare the two: the gate drops nothing)."""
    spans = list(_own(text))
    for start, line in _every_line(text) if every_line else _candidate_lines(text):
        spans += _ds(line, start)
        spans += _assigned(line, start)
    return _settled(text, spans)


def _own(text: str) -> Iterator[Span]:
    for kind, rx, group in _OWN:
        for m in rx.finditer(text):
            yield Span(m.start(group), m.end(group), kind)


def _candidate_lines(text: str) -> Iterator[tuple[int, str]]:
    """(offset, line) of each line the gate matches in, each once. Lines are cut at
    64 KB so one huge line (minified JSON) costs a window, not the whole."""
    last = -1
    for start, end in gate.matches(text):
        if start <= last:
            continue
        lo = max(text.rfind("\n", 0, start) + 1, start - 32768)
        hi = text.find("\n", start)  # the line the match starts on (a name's match may end past it)
        hi = len(text) if hi < 0 else hi
        hi = min(hi, end + 32768)
        last = hi
        yield lo, text[lo:hi]


def _every_line(text: str) -> Iterator[tuple[int, str]]:
    at = 0
    for line in text.split("\n"):
        yield at, line
        at += len(line) + 1


def _ds(line: str, offset: int) -> Iterator[Span]:
    for kind, plugin in _ds_plugins():
        for value in set(plugin.analyze_string(line)):  # type: ignore[attr-defined]
            if not value or len(value) < 8:
                continue
            i = line.find(value)
            while i >= 0:
                yield Span(offset + i, offset + i + len(value), kind)
                i = line.find(value, i + len(value))


def _assigned(line: str, offset: int) -> Iterator[Span]:
    for m in _ASSIGNED.finditer(line):
        value = m.group(2).rstrip(".,;:")
        if _looks_secret(value):
            yield Span(offset + m.start(2), offset + m.start(2) + len(value), "secret-assignment")


def entropy(s: str) -> float:
    """Shannon entropy, bits per character."""
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values()) if n else 0.0


def _looks_secret(value: str) -> bool:
    """A random-looking value: 8+ characters, letters with digits or symbols,
    ~3 bits of entropy a character; not a code expression, a path or a placeholder."""
    if len(value) < 8 or _EXAMPLE.search(value) or value.startswith(("$", "%", "-", "/", ".")):
        return False
    if re.fullmatch(r"[A-Za-z_]+(?:\.[A-Za-z_]\w*)+", value):  # settings.api_key, os.environ
        return False
    classes = sum(bool(re.search(p, value)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]"))
    has_digit_or_symbol = re.search(r"[^A-Za-z_]", value) is not None
    return classes >= 2 and has_digit_or_symbol and entropy(value) >= 3.0


def _settled(text: str, spans: list[Span]) -> list[Span]:
    """Overlaps resolved (the longer wins), examples and already-redacted values
    dropped, each token kind held to word boundaries (a key-shaped run inside a
    longer run of letters, base64 image data say, is not a key)."""
    out: list[Span] = []
    for s in sorted(spans, key=lambda s: (s.start, -(s.end - s.start))):
        value = text[s.start : s.end]
        if _EXAMPLE.search(value) or not _bounded(text, s):
            continue
        if text.startswith(_REDACTED_MARK, max(0, s.start - 64)) and "]" not in text[max(0, s.start - 64) : s.start]:
            continue  # inside one of our own masks
        if out and s.start < out[-1].end:
            if s.end > out[-1].end and s.end - s.start > out[-1].end - out[-1].start:
                out[-1] = s
            continue
        out.append(s)
    return out


_LOOSE = {"url-password", "secret-assignment", "private-key", "gcp-service-account-key", "azure-sas-signature"}


def _bounded(text: str, s: Span) -> bool:
    if s.kind in _LOOSE:
        return True
    before = text[s.start - 1] if s.start else ""
    after = text[s.end] if s.end < len(text) else ""
    return not (before.isalnum() or after.isalnum())

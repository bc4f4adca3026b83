"""Text from an archive, shown on a terminal, must never drive the terminal.

Titles, message text, tool output, file names and zip member names come from
files anyone can write. Printed raw, an escape sequence in them can clear the
screen, write the clipboard (OSC 52), plant a hyperlink whose target differs
from its text (OSC 8), or, through a newline in a file name, fake a log line.
`terminal_safe` turns every such character into a visible stand-in; every
path that prints archive content on a terminal goes through it. JSON output
and files written by `export` stay exact: they are data, not terminal text.
"""

from __future__ import annotations

import re

# C0 controls and DEL become their Unicode "control pictures" (ESC -> ␛, BEL -> ␇,
# LF -> ␊, DEL -> ␡): one readable glyph each, never a control.
_C0 = {c: chr(0x2400 + c) for c in range(0x20)}
_C0[0x7F] = "\u2421"
# C1 controls (0x9B is a one-byte CSI, 0x9D a one-byte OSC) have no pictures:
# shown as Python-style escapes.
_C1 = {c: f"\\x{c:02x}" for c in range(0x80, 0xA0)}
# Bidi embeddings, overrides and isolates reorder what follows on the line, so
# a file name, an id or a line of code could read as something else. Natural
# right-to-left text needs none of them (the terminal's bidi algorithm orders it).
_BIDI = {c: f"\\u{c:04x}" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}

_MULTI_LINE = str.maketrans({**_C0, **_C1, **_BIDI, ord("\n"): "\n", ord("\t"): "\t"})
_ONE_LINE = str.maketrans({**_C0, **_C1, **_BIDI})
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str, *, one_line: bool = False) -> str:
    """``text`` with every control character shown visibly instead of acting.

    Multi-line text (a message, tool output) keeps its newlines and tabs (a
    Windows line end counts as a newline); a one-line field (a title, a file
    name, an error line) shows those too, so it stays one line."""
    if not _UNSAFE.search(text):
        return text  # the usual case: nothing to copy
    if one_line:
        return text.translate(_ONE_LINE)
    return text.replace("\r\n", "\n").translate(_MULTI_LINE)


class SafeWriter:
    """A text stream that passes everything written through `terminal_safe`
    (for renderers that write Markdown or HTML straight to a terminal)."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(terminal_safe(text))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name):
        return getattr(self._stream, name)

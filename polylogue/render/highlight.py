"""Server-side syntax highlighting with Pygments, for the HTML pages.

Pygments escapes every character of the code itself (``&``, ``<``, ``>``,
quotes) and wraps tokens in ``<span class="hl-…">``; no class name or markup
ever comes from the content. A fence language Pygments does not know, or a
block too long to colour cheaply, stays plain escaped text.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

MAX_CHARS = 60_000  # past this a block is shown plain: colouring a huge paste costs more than it helps
PREFIX = "hl-"


@lru_cache(maxsize=128)
def _lexer(lang: str) -> Any:
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        return get_lexer_by_name(lang.lower(), stripnl=False, ensurenl=False)
    except (ClassNotFound, ValueError):
        return None


@lru_cache(maxsize=1)
def _formatter() -> Any:
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(nowrap=True, classprefix=PREFIX)


def highlighted(code: str, lang: str) -> str | None:
    """``code`` as escaped HTML with token spans, or None (unknown language, too long)."""
    if len(code) > MAX_CHARS:
        return None
    lexer = _lexer(lang)
    if lexer is None:
        return None
    from pygments import highlight

    out = highlight(code, lexer, _formatter())
    out = out.replace("\0", "\ufffd")  # as a browser would show it (render.html.esc does the same)
    return out[:-1] if out.endswith("\n") and not code.endswith("\n") else out


@lru_cache(maxsize=1)
def css() -> str:
    """The token colours: a light style, and a dark one under prefers-color-scheme."""
    from pygments.formatters import HtmlFormatter

    def rules(style: str) -> str:
        defs = HtmlFormatter(style=style, classprefix=PREFIX).get_style_defs(".hl")
        # only the token rules: the generic pre/linenos rules and the block background stay ours
        keep = [line for line in defs.splitlines() if line.startswith(".hl .") and "background-color" not in line]
        return "\n".join(keep)

    return f"{rules('default')}\n@media (prefers-color-scheme:dark){{\n{rules('monokai')}\n}}\n"

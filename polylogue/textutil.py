"""Small text helpers shared by the model, the index and the renderers."""

from __future__ import annotations

from typing import Any

import orjson


def tool_input_text(value: Any, limit: int = 1 << 20) -> str:
    """Searchable text of a tool input: string leaves joined, keys dropped."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value[:limit]
    out: list[str] = []
    size = 0
    stack = [value]
    while stack and size < limit:
        v = stack.pop()
        if isinstance(v, str):
            out.append(v)
            size += len(v)
        elif isinstance(v, dict):
            stack.extend(reversed(list(v.values())))
        elif isinstance(v, list):
            stack.extend(reversed(v))
        elif v is not None and not isinstance(v, bool):
            out.append(str(v))
    return " ".join(out)[:limit]


def dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


# CJK scripts have no spaces between words. Indexing each character as its own
# token (and searching a CJK string as a phrase of characters) makes any
# substring findable, with exact adjacency.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\uff66-\uff9f"
_CJK_CHAR = __import__("re").compile(f"([{_CJK}])")


def is_cjk(ch: str) -> bool:
    return _CJK_CHAR.fullmatch(ch) is not None


def split_cjk(text: str) -> str:
    """'数据库 conn' -> ' 数  据  库  conn': one index token per CJK character."""
    if text.isascii():
        return text
    return _CJK_CHAR.sub(r" \1 ", text)

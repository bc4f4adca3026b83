"""Comments and docstrings cite only documents inside the repository: a reader
must be able to open what a comment points to. A page of docs/ it names must exist; the
reference notes kept outside the repository (the format notes and their
numbered sections, the seed roadmap and its numbered items) must not be named."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FOLDERS = ("polylogue", "tests", "benchmarks", "scripts")
OUTSIDE = re.compile(r"formats\.md|seed-roadmap|\broadmap \d|§\s*\d", re.I)
DOC_REF = re.compile(r"\bdocs/([\w.-]+\.md)\b")


def _files() -> list[Path]:
    return sorted(p for folder in FOLDERS for p in (REPO / folder).rglob("*.py") if "__pycache__" not in p.parts)


def _comments_and_docstrings(source: str) -> list[tuple[int, str]]:
    """(line, text) of every comment and every module, class and function docstring."""
    out = [
        (tok.start[0], tok.string)
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.COMMENT
    ]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                out.append((node.body[0].lineno, doc))
    return out


def citation_problems(source: str) -> list[str]:
    problems = []
    for line, text in _comments_and_docstrings(source):
        problems += [f"line {line}: cites {m[0]!r}, which is not in the repository" for m in OUTSIDE.finditer(text)]
        problems += [
            f"line {line}: cites docs/{name}, which does not exist"
            for name in DOC_REF.findall(text)
            if not (REPO / "docs" / name).is_file()
        ]
    return problems


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(REPO)))
def test_comments_cite_only_the_repository(path):
    problems = citation_problems(path.read_text(encoding="utf-8"))
    assert not problems, f"{path.relative_to(REPO)}: " + "; ".join(problems) + " (point to a docs/*.md section instead)"


def test_the_check_catches_outside_citations():
    source = '"""Parser (formats.md §3)."""\n# ordered load (roadmap 8)\nx = 1  # see docs/nowhere.md\n'
    assert len(citation_problems(source)) == 4
    assert citation_problems('"""See docs/cli.md."""\n# a plain comment\n') == []

"""The library's documented examples run: every ```python block of docs/library.md
and of the package docstring, in order, in one namespace per document (a later
block may use what an earlier one defined), against an archive of examples/
($POLYLOGUE_HOME, so `Archive()` opens it), from a scratch working folder.
Paths in the examples are relative or under ~, so they land in the test's
scratch folders; an absolute path would be created for real."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import polylogue
from polylogue import Archive

REPO = Path(__file__).resolve().parent.parent
_FENCE = re.compile(r"^```python\n(.*?)^```", re.M | re.S)

DOCUMENTS = {
    "docs/library.md": (REPO / "docs" / "library.md").read_text(),
    "polylogue/__init__.py": polylogue.__doc__ or "",
}


def snippets(text: str) -> list[tuple[int, str]]:
    """(line number of the block's first line, code) for each ```python block."""
    return [(text.count("\n", 0, m.start(1)) + 1, m[1]) for m in _FENCE.finditer(text)]


@pytest.fixture
def example_archive(examples, tmp_path, monkeypatch):
    home = Path(polylogue_home := str(tmp_path / "archive"))
    monkeypatch.setenv("POLYLOGUE_HOME", polylogue_home)
    report = Archive(home).sync([str(examples)])
    assert report.exit_code == 0, report.to_json()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # snippets write out/, copy.db and the like here
    return home


@pytest.mark.parametrize("name", DOCUMENTS)
def test_documented_examples_run(name, example_archive):
    blocks = snippets(DOCUMENTS[name])
    assert blocks, f"{name} has no ```python examples"
    namespace: dict = {"__name__": "__doc_example__"}
    for line, code in blocks:
        try:
            exec(compile(code, f"{name}:{line}", "exec"), namespace)
        except Exception as e:
            pytest.fail(f"the example at {name}:{line} fails: {type(e).__name__}: {e}\n{code}")


def test_a_broken_example_is_reported():
    """The runner can fail: an example using an attribute that does not exist raises."""
    (line, code), *_ = snippets('text\n```python\nfrom polylogue import Archive\nArchive().search_hits("x")\n```\n')
    with pytest.raises(AttributeError):
        exec(compile(code, f"inline:{line}", "exec"), {})

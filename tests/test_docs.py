"""Docs stay true: every command and option is documented in docs/cli.md."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from polylogue.cli import cli

DOC = (Path(__file__).resolve().parent.parent / "docs" / "cli.md").read_text()


def _commands():
    return sorted(cli.commands.items())


@pytest.mark.parametrize("name,cmd", _commands(), ids=[n for n, _ in _commands()])
def test_command_documented(name, cmd):
    assert f"## {name}" in DOC, f"docs/cli.md has no section for `{name}`"
    section = DOC.split(f"## {name}", 1)[1].split("\n## ", 1)[0]
    for p in cmd.params:
        if isinstance(p, click.Option):
            longest = max(p.opts, key=len)
            assert longest in section, f"`{name} {longest}` is not documented in docs/cli.md"


def test_global_options_documented():
    assert "--home" in DOC and "POLYLOGUE_HOME" in DOC

"""Third-party providers load through the `polylogue.providers` entry-point group.

A small plugin distribution is installed with pip into a temporary folder put
on PYTHONPATH (the installed polylogue is untouched), and the real CLI runs in
a subprocess: the plugin's format imports and is searchable by its name, its
default folder is a default source, and broken plugins (one that fails to
import, one that reuses a built-in's name, one that names no Provider) are
warnings while the built-ins go on working.

The wheel is written by hand (a zip holding the modules and their metadata, as
`[project.entry-points."polylogue.providers"]` in a pyproject.toml produces), so
the test needs no build backend and no network; pip installs it as it installs
any wheel.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import EXAMPLES

pytestmark = pytest.mark.skipif(importlib.util.find_spec("pip") is None, reason="pip is not installed")

TOYLOG = '''\
"""A toy format: a JSONL log whose first line is {"toylog": 1, "id": ..., "title": ...}
and whose other lines are {"who": "user" | "assistant", "said": ...}."""

from polylogue.models import Conversation, Message, text
from polylogue.providers import Location, Provider, Records
from polylogue.providers.common import iter_jsonl

NAME = "toylog"


def sniff(head):
    return bool(head.records) and head.records[0].get("toylog") == 1


def parse(stream, ctx):
    header, messages = None, []
    for lineno, rec in iter_jsonl(stream, ctx):
        if header is None:
            header = rec
        elif rec.get("who") in ("user", "assistant") and isinstance(rec.get("said"), str):
            messages.append(Message(id=str(lineno), role=rec["who"], blocks=[text(rec["said"])]))
        else:
            ctx.warn("not a toylog line", lineno)
    if header is not None:
        yield Conversation(provider=NAME, provider_id=str(header["id"]), title=header.get("title"), messages=messages)


PROVIDER = Provider(
    name=NAME,
    display_name="Toy Log",
    kind="jsonl",
    sniff=sniff,
    parse=parse,
    sniff_order=90,
    records=Records(),
    locations=(Location("~/.toylog", "logs"),),
)
'''

BROKEN = 'raise RuntimeError("this plugin is broken on purpose")\n'

CLASH = """\
from polylogue.providers import Provider

PROVIDER = Provider(name="chatgpt", display_name="Fake", kind="json", sniff=lambda h: True, parse=lambda s, c: iter(()))
"""

ENTRY_POINTS = """\
[polylogue.providers]
toylog = polylogue_toylog
broken = polylogue_broken:PROVIDER
clash = polylogue_clash:PROVIDER
not-a-provider = polylogue_toylog:NAME
"""


def _wheel(folder: Path) -> Path:
    """polylogue_toy_plugins-0.1-py3-none-any.whl with three plugin modules."""
    dist = "polylogue_toy_plugins-0.1.dist-info"
    files = {
        "polylogue_toylog.py": TOYLOG,
        "polylogue_broken.py": BROKEN,
        "polylogue_clash.py": CLASH,
        f"{dist}/METADATA": "Metadata-Version: 2.1\nName: polylogue-toy-plugins\nVersion: 0.1\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests/test_plugins.py\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{dist}/entry_points.txt": ENTRY_POINTS,
    }
    record = []
    for name, body in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(body.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(body.encode())}")
    files[f"{dist}/RECORD"] = "\n".join([*record, f"{dist}/RECORD,,"]) + "\n"
    path = folder / "polylogue_toy_plugins-0.1-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, body in files.items():
            zf.writestr(name, body)
    return path


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("plugin")
    site = tmp / "site"
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--disable-pip-version-check"]
    r = subprocess.run([*pip, "--target", str(site), str(_wheel(tmp))], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (site / "polylogue_toy_plugins-0.1.dist-info" / "entry_points.txt").is_file()
    return site


def polylogue(*args: str, site: Path | None, home: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if site is not None:
        env["PYTHONPATH"] = str(site)
    return subprocess.run(
        [sys.executable, "-m", "polylogue", "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


def test_a_plugin_provider_imports_and_is_searchable(plugin_site, tmp_path):
    log = tmp_path / "session.toy"
    lines = [
        {"toylog": 1, "id": "t1", "title": "Toy session"},
        {"who": "user", "said": "how do I frobnicate the widget"},
        {"who": "assistant", "said": "frobnicate it gently"},
    ]
    log.write_text("".join(json.dumps(x) + "\n" for x in lines))
    home = tmp_path / "archive"
    chatgpt = EXAMPLES / "chatgpt" / "conversations.json"

    r = polylogue("sync", str(log), str(chatgpt), site=plugin_site, home=home, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    # each broken plugin is one clear warning; the sync itself succeeded
    assert (
        "warning: plugin broken (polylogue_broken:PROVIDER): failed to load: RuntimeError: this plugin is broken on purpose"
        in r.stderr
    )
    assert (
        "warning: plugin clash (polylogue_clash:PROVIDER): refused: the name 'chatgpt' is taken by a built-in provider"
        in r.stderr
    )
    assert "warning: plugin not-a-provider (polylogue_toylog:NAME): not a polylogue.providers.base.Provider" in r.stderr
    assert r.stderr.count("warning:") == 3

    r = polylogue("search", "--json", "frobnicate", "provider:toylog", site=plugin_site, home=home, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    hits = json.loads(r.stdout)
    assert [h["id"] for h in hits] == ["toylog:t1"]

    # the built-ins still work beside the plugins, the clashing one did not replace chatgpt
    r = polylogue("list", "--json", "--provider", "chatgpt", site=plugin_site, home=home, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)) == 3

    # without the plugin installed, its name is not a provider
    r = polylogue("search", "provider:toylog", site=None, home=home, cwd=tmp_path)
    assert r.returncode != 0 and "toylog" in r.stderr and "Traceback" not in r.stderr


def test_a_plugin_location_is_a_default_source(plugin_site, tmp_path):
    r = polylogue("sources", "--json", site=plugin_site, home=tmp_path / "archive", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = {row["name"]: row["path"] for row in json.loads(r.stdout)["sources"]}
    assert rows["toylog"] == str(Path.home() / ".toylog" / "logs")
    assert {"claude-code", "codex", "gemini-cli", "inbox"} <= set(rows)

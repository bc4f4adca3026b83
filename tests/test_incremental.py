"""Re-syncs do only the work that changed: untouched files are not opened,
touched-but-identical files are not parsed, unchanged conversations inside a
new export are skipped, and only changed messages are rewritten."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from polylogue.api import Archive

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def rows(home: Path) -> dict:
    conn = sqlite3.connect(home / "polylogue.db")
    try:
        return {uid: (h, n) for uid, h, n in conn.execute("SELECT uid, hash, message_count FROM conversations")}
    finally:
        conn.close()


def test_touched_file_is_not_parsed_again(tmp_path):
    src = tmp_path / "conversations.json"
    src.write_bytes((EXAMPLES / "chatgpt" / "conversations.json").read_bytes())
    a = Archive(tmp_path / "h")
    assert a.sync([src]).conversations_new == 3
    os.utime(src, ns=(src.stat().st_atime_ns, src.stat().st_mtime_ns + 10**9))  # touched, same bytes
    r = a.sync([src])
    assert r.files_unchanged == 1 and r.conversations_unchanged == 0 and r.files_imported == 0
    r = a.sync([src])  # the new mtime was remembered
    assert r.files_unchanged == 1


def test_new_export_with_one_changed_conversation(tmp_path):
    src = tmp_path / "conversations.json"
    convs = json.loads((EXAMPLES / "chatgpt" / "conversations.json").read_text())
    src.write_text(json.dumps(convs))
    a = Archive(tmp_path / "h")
    a.sync([src])
    before = rows(tmp_path / "h")
    convs[1]["title"] = "A renamed conversation"
    convs[1]["update_time"] = (convs[1].get("update_time") or 0) + 3600
    src.write_text(json.dumps(convs))
    r = a.sync([src])
    assert (r.conversations_new, r.conversations_updated, r.conversations_unchanged) == (0, 1, 2)
    assert r.messages_new == 0 and r.messages_updated == 0  # only the conversation row changed
    after = rows(tmp_path / "h")
    changed = {k for k in after if after[k] != before[k]}
    assert changed == {f"chatgpt:{convs[1]['id']}"}
    # the same as importing the new export into a fresh archive
    fresh = tmp_path / "fresh"
    Archive(fresh).sync([src])
    assert rows(fresh) == after
    # --force converts everything again and still finds no difference
    forced = a.sync([src], force=True)
    assert forced.conversations_updated == 0 and forced.conversations_unchanged == 3


def test_appended_session_rewrites_only_new_messages(tmp_path):
    src_dir = tmp_path / "projects"
    (src_dir / "p").mkdir(parents=True)
    session = next((EXAMPLES / "claude-code" / "projects").glob("*/3f8d2b10-*.jsonl"))
    dest = src_dir / "p" / session.name
    dest.write_bytes(session.read_bytes())
    a = Archive(tmp_path / "h")
    a.sync([src_dir])
    conn = sqlite3.connect(tmp_path / "h" / "polylogue.db")
    ids_before = dict(conn.execute("SELECT mid, id FROM messages"))
    last = [json.loads(x) for x in dest.read_text().splitlines() if '"uuid"' in x][-1]
    new = {
        "type": "user",
        "uuid": "appended-1",
        "parentUuid": last.get("uuid"),
        "sessionId": last["sessionId"],
        "timestamp": "2026-03-01T00:00:00Z",
        "cwd": last.get("cwd"),
        "message": {"role": "user", "content": "one more question about quillbackfrob"},
    }
    with open(dest, "a") as f:
        f.write(json.dumps(new) + "\n")
    r = a.sync([src_dir])
    assert r.conversations_updated == 1 and r.messages_new >= 1
    ids_after = dict(conn.execute("SELECT mid, id FROM messages"))
    kept = {m for m in ids_before if ids_after.get(m) == ids_before[m]}
    assert kept == set(ids_before)  # earlier messages keep their rows: nothing rewritten or re-indexed
    assert r.messages_new == 1 and r.messages_updated == 0
    assert a.search("quillbackfrob").total_messages == 1
    conn.close()


def _session(sid: str, texts: list[str], start: int = 0) -> str:
    lines, parent = [], None
    for i, t in enumerate(texts, start):
        role = "user" if i % 2 == 0 else "assistant"
        rec = {
            "type": role,
            "uuid": f"{sid[:4]}-{i}",
            "parentUuid": parent,
            "sessionId": sid,
            "cwd": "/src/x",
            "timestamp": f"2026-03-01T10:00:{i:02d}Z",
            "message": {"role": role, "content": t},
        }
        if role == "assistant":
            rec["message"] = {
                "id": f"m{i}",
                "role": role,
                "model": "claude-sonnet-4",
                "content": [{"type": "text", "text": t}],
            }
        lines.append(json.dumps(rec))
        parent = rec["uuid"]
    return "\n".join(lines) + "\n"


def _messages(home: Path) -> list[tuple]:
    conn = sqlite3.connect(home / "polylogue.db")
    try:
        return conn.execute(
            "SELECT c.uid, c.hash, m.mid, m.hash, pl_content(m.content) FROM messages m "
            "JOIN conversations c ON c.id = m.conversation_id ORDER BY m.mid"
        ).fetchall()
    except sqlite3.OperationalError:  # pl_content is ours: compare the raw column instead
        return conn.execute(
            "SELECT c.uid, c.hash, m.mid, m.hash, m.content FROM messages m "
            "JOIN conversations c ON c.id = m.conversation_id ORDER BY m.mid"
        ).fetchall()
    finally:
        conn.close()


def test_unchanged_messages_of_a_grown_session_are_not_encoded_again(tmp_path):
    """encode() with the archive's hashes marks unchanged messages kept (no
    content, no index text); the writer stores only the rest."""
    from polylogue.providers import parse_path
    from polylogue.store.encode import encode

    sid = "0c0c0000-0000-4000-8000-000000000001"
    path = tmp_path / "p" / f"{sid}.jsonl"
    path.parent.mkdir()
    texts = [f"turn {i} about gravelfinch" for i in range(12)]
    path.write_text(_session(sid, texts))
    first = encode(parse_path(str(path))[0][0])
    path.write_text(_session(sid, texts + ["a new question", "a new answer"]))
    conv = parse_path(str(path))[0][0]
    stored = {r.mid: r.hash for r in first.messages}
    row = encode(conv, stored=stored)
    kept = [r for r in row.messages if r.content is None]
    assert len(kept) >= 11
    assert [r.hash for r in row.messages] == [r.hash for r in encode(conv).messages]  # same hashes either way
    assert row.hash == encode(conv).hash


def test_a_conversation_changed_by_an_earlier_file_of_the_same_sync_is_converted_again(tmp_path):
    """Two newer copies of one session in one sync: the second was parsed
    against the archive as it was before the first was written, so rows it
    marked kept are stale; it is converted again in full, and the archive ends
    exactly as if only the newest copy had been imported."""
    sid = "0c0c0000-0000-4000-8000-000000000002"
    texts = [f"turn {i} about marshwren" for i in range(10)]
    v1 = tmp_path / "one" / "p"
    v1.mkdir(parents=True)
    (v1 / f"{sid}.jsonl").write_text(_session(sid, texts))
    a = Archive(tmp_path / "h")
    a.sync([tmp_path / "one"])
    two = tmp_path / "two" / "p"
    two.mkdir(parents=True)
    edited = list(texts)
    edited[3] = "turn 3 edited in the second copy"
    (two / "a.jsonl").write_text(_session(sid, edited + ["more"]))
    (two / "b.jsonl").write_text(_session(sid, texts + ["more", "and the newest"]))
    r = a.sync([tmp_path / "two"])
    assert r.exit_code == 0, r.errors
    fresh = tmp_path / "fresh"
    Archive(fresh).sync([two / "b.jsonl"])
    assert _messages(tmp_path / "h") == _messages(fresh)
    assert a.search("marshwren").total_messages == 10
    assert a.search("edited").total_messages == 0


def test_a_replaced_archive_is_not_read_through_an_old_connection(tmp_path):
    """A second sync in the same process, after the archive was deleted and made
    again, imports everything: the parsers' lookup of the old file is not kept."""
    import shutil

    from polylogue import Archive

    examples = Path(__file__).resolve().parent.parent / "examples"
    home = tmp_path / "h"
    with Archive(home) as a:
        first = a.sync([examples])
    shutil.rmtree(home)
    with Archive(home) as a:
        again = a.sync([examples])
        assert again.conversations_unchanged == 0
        assert again.conversations_new == first.conversations_new == a.stats()["conversations"]

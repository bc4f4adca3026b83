"""discover() lists each real file once, however it is reached: file and folder
symlinks, hard links, a file named beside its folder, loops, roots given twice."""

from __future__ import annotations

import os
from pathlib import Path

from polylogue.sources import discover


def _keys(*paths: Path) -> list[str]:
    errors: list = []
    out = [f.key for f in discover(list(paths), errors)]
    assert not errors
    return out


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    (root / "a" / "one.jsonl").write_text("{}\n")
    (root / "b" / "two.jsonl").write_text("{}\n")
    return root


def test_plain_tree_in_sorted_order(tmp_path):
    root = _tree(tmp_path)
    assert _keys(root) == [str(root / "a" / "one.jsonl"), str(root / "b" / "two.jsonl")]


def test_file_symlink_inside_the_tree_is_listed_under_its_real_path(tmp_path):
    root = _tree(tmp_path)
    os.symlink(root / "b" / "two.jsonl", root / "a" / "alias.jsonl")  # sorted before two.jsonl
    assert sorted(_keys(root)) == [str(root / "a" / "one.jsonl"), str(root / "b" / "two.jsonl")]


def test_folder_symlink_inside_the_tree_is_walked_once(tmp_path):
    root = _tree(tmp_path)
    os.symlink(root / "b", root / "a" / "again")
    keys = _keys(root)
    assert len(keys) == 2 and len({os.path.realpath(k) for k in keys}) == 2


def test_symlinks_to_outside_the_tree_count_once(tmp_path):
    root = _tree(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.jsonl").write_text("{}\n")
    os.symlink(outside, root / "a" / "linked")  # a folder symlink out of the tree...
    os.symlink(outside / "x.jsonl", root / "0-first.jsonl")  # ...and a file symlink to a file in it, seen first
    os.symlink(outside / "x.jsonl", root / "b" / "z-last.jsonl")  # and another, seen last
    keys = _keys(root)
    assert len(keys) == 3
    assert sum(os.path.realpath(k) == str(outside / "x.jsonl") for k in keys) == 1


def test_hard_links_count_once(tmp_path):
    root = _tree(tmp_path)
    os.link(root / "a" / "one.jsonl", root / "b" / "hard.jsonl")
    assert len(_keys(root)) == 2


def test_a_file_named_beside_its_folder_counts_once(tmp_path):
    root = _tree(tmp_path)
    f = root / "a" / "one.jsonl"
    assert len(_keys(f, root)) == 2
    assert len(_keys(root, f)) == 2
    assert len(_keys(root, root, root / "a")) == 2


def test_walk_memory_keeps_no_per_file_set(tmp_path):
    """A plain tree remembers no file: nothing grows with the number of files."""
    from polylogue.sources import _Seen

    root = _tree(tmp_path)
    for i in range(50):
        (root / "a" / f"s{i}.jsonl").write_text("{}\n")
    seen = _Seen([str(root)])
    from polylogue.sources import _walk

    assert len(list(_walk(root, seen, []))) == 52
    assert not seen.files and len(seen.dirs) == 3


def test_a_named_file_stays_named_when_its_folder_is_walked_too(tmp_path):
    root = _tree(tmp_path)
    f = root / "a" / "one.jsonl"
    for order in ((f, root), (root, f)):
        files = list(discover(list(order), []))
        assert len(files) == 2
        assert [x.explicit for x in files if x.key == str(f)] == [True]


# ---------------------------------------------------------------- searched folders (Location.find)


def _found(root: Path, find: tuple[str, ...], depth: int = 32) -> list[str]:
    from polylogue.sources import SearchRoot

    errors: list = []
    out = [os.path.relpath(f.key, root) for f in discover([SearchRoot.of(root, find, depth)], errors)]
    assert not errors
    return sorted(out)


def _touch(root: Path, *rels: str) -> None:
    for rel in rels:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x")


def test_search_lists_only_matching_files(tmp_path):
    _touch(
        tmp_path,
        "a/.aider.chat.history.md",
        "a/README.md",
        "b/c/.specstory/history/one.md",
        "b/c/.specstory/.what-is-this.md",
        "b/c/.specstory/history/sub/deeper.md",
        ".hidden/d/.aider.chat.history.md",  # hidden folders: not entered by "**"
        "node_modules/e/.aider.chat.history.md",  # dependencies: never searched
    )
    got = _found(tmp_path, ("**/.aider.chat.history.md", "**/.specstory/history/*.md"))
    assert got == ["a/.aider.chat.history.md", "b/c/.specstory/history/one.md"]


def test_search_stops_at_a_projects_root(tmp_path):
    _touch(
        tmp_path,
        "proj/.git/HEAD",
        "proj/.aider.chat.history.md",
        "proj/sub/.aider.chat.history.md",
        "proj/.specstory/history/h.md",
    )
    got = _found(tmp_path, ("**/.aider.chat.history.md", "**/.specstory/history/*.md"))
    assert got == ["proj/.aider.chat.history.md", "proj/.specstory/history/h.md"]


def test_search_depth_and_anchored_patterns(tmp_path):
    _touch(tmp_path, "1/2/3/.aider.chat.history.md", "1/2/3/4/.aider.chat.history.md")
    assert _found(tmp_path, ("**/.aider.chat.history.md",), depth=3) == ["1/2/3/.aider.chat.history.md"]
    _touch(
        tmp_path,
        "globalStorage/state.vscdb",
        "globalStorage/state.vscdb-wal",
        "globalStorage/other.json",
        "workspaceStorage/ab/state.vscdb",
        "workspaceStorage/ab/images/x.png",
        "History/h/entries.json",
    )
    got = _found(
        tmp_path, ("globalStorage/state.vscdb", "globalStorage/state.vscdb-wal", "workspaceStorage/*/state.vscdb")
    )
    assert got == ["globalStorage/state.vscdb", "globalStorage/state.vscdb-wal", "workspaceStorage/ab/state.vscdb"]


def test_search_is_loop_safe_and_lists_a_file_once(tmp_path):
    from polylogue.sources import SearchRoot

    _touch(tmp_path, "a/.aider.chat.history.md")
    os.symlink(tmp_path, tmp_path / "a" / "loop")
    os.symlink(tmp_path / "a", tmp_path / "again")
    roots = [
        SearchRoot.of(tmp_path, ("**/.aider.chat.history.md",), 8),
        SearchRoot.of(tmp_path / "a", ("*.md", ".aider.chat.history.md"), 2),
    ]
    keys = [f.key for f in discover(roots, [])]
    assert len(keys) == 1 and all(not f.explicit for f in discover(roots[:1], []))


def test_search_root_survives_path_operations(tmp_path):
    from polylogue.sources import SearchRoot

    root = SearchRoot.of(tmp_path, ("*.md",), 3)
    assert root.exists() and root.find == ("*.md",) and root.depth == 3
    assert Path(root) == tmp_path  # a path like any other where the caller does not care


# ---------------------------------------------------------------- siblings of a file


def test_members_open_their_siblings(tmp_path):
    import zipfile

    from polylogue.sources import InputFile, members

    task = tmp_path / "tasks" / "1"
    task.mkdir(parents=True)
    (task / "a.json").write_text("[]")
    (task / "b.json").write_text("[1]")
    os.mkfifo(task / "fifo.json")
    st = (task / "a.json").stat()
    (m,) = members(InputFile(str(task / "a.json"), st.st_size, st.st_mtime_ns, False), None)
    with m.sibling("b.json") as f:
        assert f.read() == b"[1]"
    assert m.sibling("fifo.json") is None and m.sibling("nope.json") is None and m.sibling("../1/b.json") is None
    z = tmp_path / "t.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(task / "a.json", "tasks/1/a.json")
        zf.write(task / "b.json", "tasks/1/b.json")
        zf.writestr("tasks/2/b.json", "[2]")
    st = z.stat()
    for first in members(InputFile(str(z), st.st_size, st.st_mtime_ns, False), None):  # the zip is open while iterating
        with first.sibling("b.json") as f:
            assert f.read() == b"[1]"  # its own folder's, not another folder's
        assert first.sibling("a.json") is not None and first.sibling("c.json") is None
        break


def test_a_file_in_a_folder_read_whole_is_not_listed_again_by_a_search(tmp_path):
    from polylogue.sources import SearchRoot

    _touch(tmp_path, "proj/.aider.chat.history.md")
    keys = [
        f.key for f in discover([tmp_path / "proj", SearchRoot.of(tmp_path, ("**/.aider.chat.history.md",), 4)], [])
    ]
    assert keys == [str(tmp_path / "proj" / ".aider.chat.history.md")]

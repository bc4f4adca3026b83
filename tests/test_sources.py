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

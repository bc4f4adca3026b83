"""Docs stay true. docs/cli.md against the commands (every command, option and
`--help` text): tests/test_cli_docs.py. docs/library.md's examples:
tests/test_library_docs.py. Citations in comments: tests/test_comments.py."""

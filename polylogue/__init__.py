"""Polylogue: one local SQLite archive of your AI conversations.

```python
from polylogue import Archive
archive = Archive()              # $POLYLOGUE_HOME or ~/.local/share/polylogue
archive.sync()                   # import the default sources
res = archive.search("oauth provider:claude-code")
for c in res.conversations:      # best first, each with its best hits
    print(c["title"], [hit["snippet"] for hit in c["hits"]])
```

More in docs/library.md (tests/test_library_docs.py runs these examples).
"""

__version__ = "0.1.0"


def __getattr__(name):  # lazy: `polylogue --help` must not import the store
    if name == "Archive":
        from .api import Archive

        return Archive
    raise AttributeError(name)

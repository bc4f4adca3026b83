"""Polylogue: one local SQLite archive of your AI conversations.

from polylogue import Archive
archive = Archive()              # $POLYLOGUE_HOME or ~/.local/share/polylogue
archive.sync()                   # import the default sources
for hit in archive.search("oauth provider:claude-code"):
    print(hit.conversation.title)
"""

__version__ = "0.1.0"


def __getattr__(name):  # lazy: `polylogue --help` must not import the store
    if name == "Archive":
        from .api import Archive

        return Archive
    raise AttributeError(name)

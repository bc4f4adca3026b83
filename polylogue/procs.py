"""What every process a sync forks does for itself (Linux; elsewhere nothing):
die with the sync, carry a name ps shows, hand freed heap back to the OS."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, Literal


def die_with_parent() -> None:
    """Be killed when the process that forked this one dies (a killed sync must not
    leave workers behind, nor their inherited descriptors: the sync lock among them)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def name_process(name: bytes) -> None:
    """The process's name as ps and /proc show it: the indexer is told from the parsers."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(15, ctypes.c_char_p(name), 0, 0, 0)  # PR_SET_NAME
        except (OSError, AttributeError):
            pass


def trim_heap() -> None:
    """Hand the heap's free pages back to the OS (glibc keeps them otherwise: big
    tool outputs come and go, and a long import's processes would only grow)."""
    global _malloc_trim
    if _malloc_trim is None:
        _malloc_trim = False
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
            except (OSError, AttributeError):
                pass
    if _malloc_trim:
        _malloc_trim(0)


# None: not looked up yet; False: not available here; else libc's malloc_trim
_malloc_trim: Callable[[int], Any] | Literal[False] | None = None

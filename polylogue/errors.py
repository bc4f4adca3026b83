"""Our own error types. Parsers raise only ParseError; nothing else escapes them."""


class PolylogueError(Exception):
    """Base class for every error we raise on purpose."""


class ParseError(PolylogueError):
    """An input could not be parsed. The message says why; ``line`` where known."""

    def __init__(self, reason: str, *, line: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.line = line

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}" if self.line else self.reason


class QueryError(PolylogueError):
    """A search query could not be parsed; ``position`` points at the problem."""

    def __init__(self, reason: str, query: str = "", position: int | None = None):
        super().__init__(reason)
        self.reason, self.query, self.position = reason, query, position

    def __str__(self) -> str:
        if self.position is None or not self.query:
            return self.reason
        return f"{self.reason}\n  {self.query}\n  {' ' * self.position}^"


class NotFound(PolylogueError):
    pass


class Ambiguous(PolylogueError):
    def __init__(self, prefix: str, candidates: list[str]):
        super().__init__(f"'{prefix}' matches {len(candidates)} conversations: " + ", ".join(candidates[:20]))
        self.candidates = candidates

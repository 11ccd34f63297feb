"""The one exception PromQL raises: a query that cannot be parsed or evaluated.

``PromQLError`` is a ``ValueError``: the rule loader turns it into a configuration error naming the
rule's file, line and key path. ``column`` (1-based; with ``line`` for a query of several lines) is
set when the offending token could be found.
"""

from __future__ import annotations

__all__ = ["PromQLError"]


class PromQLError(ValueError):
    """A query PromQL rejects: ``message`` from the parser or evaluator, ``column`` when known."""

    def __init__(
        self, message: str, *, query: str | None = None, line: int | None = None, column: int | None = None
    ) -> None:
        self.message = message
        self.query = query
        self.line = line
        self.column = column
        where = ""
        if column is not None:
            where = f" (line {line}, column {column})" if line is not None else f" (column {column})"
        super().__init__(f"{message}{where}")

"""Turn request paths into a bounded set of endpoint labels.

Raw paths carry ids (``/api/users/8812/profile``) and query strings; as labels they would
make one KPI series per user. Id-like segments become ``:id``, the query string is dropped,
and past ``limit`` distinct endpoints the rest share ``other``, so the number of series stays
within the recorder's per-metric limit whatever the log holds.
"""

from __future__ import annotations

import re

__all__ = ["OTHER", "EndpointNamer"]

OTHER = "other"
_ID = re.compile(
    r"^(?:\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|[0-9a-fA-F]{16,}|[-_A-Za-z0-9]{20,})$"
)
_CACHE_LIMIT = 50_000


class EndpointNamer:
    def __init__(self, limit: int = 50) -> None:
        self.limit = limit
        self.known: set[str] = set()
        self.overflowed = 0  # requests labelled ``other`` because the limit was reached
        self._cache: dict[str, str] = {}

    def __call__(self, path: str) -> str:
        name = self._cache.get(path)
        if name is None:
            name = self._normalise(path)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[path] = name
        if name not in self.known:
            if len(self.known) >= self.limit:
                self.overflowed += 1
                return OTHER
            self.known.add(name)
        return name

    @staticmethod
    def _normalise(path: str) -> str:
        path = path.split("?", 1)[0].split("#", 1)[0]
        if not path.startswith("/"):
            return path or "/"
        segments = [":id" if _ID.match(part) else part for part in path.split("/")]
        return "/".join(segments)[:200] or "/"

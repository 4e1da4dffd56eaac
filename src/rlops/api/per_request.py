"""A handle (the run store, the registry, the dataset catalog) opened for one request and closed
after it, as a FastAPI dependency: each request gets its own SQLite connection."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar


class Closable(Protocol):
    def close(self) -> Any: ...


T = TypeVar("T", bound=Closable)


def per_request(open_handle: Callable[[], T]) -> Callable[[], Iterator[T]]:
    """A dependency that yields ``open_handle()`` to the route and closes it once the response is done."""
    def dependency() -> Iterator[T]:
        opened = open_handle()
        try:
            yield opened
        finally:
            opened.close()
    return dependency

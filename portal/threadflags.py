"""A per-thread switch: on for the length of a `with` block, then back to what it was."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ThreadFlag:
    """Off until a `with flag.set_to(True)` block in this thread; nested blocks restore the
    value they found (the webhook pipeline's modes: values screened, failures retried)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def __bool__(self) -> bool:
        return getattr(self._local, "on", False)

    @contextmanager
    def set_to(self, on: bool) -> Iterator[None]:
        before = bool(self)
        self._local.on = on
        try:
            yield
        finally:
            self._local.on = before

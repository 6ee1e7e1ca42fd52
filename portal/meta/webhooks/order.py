"""Meta's order: the one rule for "is this change older than the state already stored?".

Meta retries a webhook for days, and the sync reads state that a webhook may have changed since:
every state Meta can change carries the time Meta stated for it (`*_at`), and a change or a read
stated before that time leaves the state alone (recorded as an event, "delivered late").
"""

from __future__ import annotations

from datetime import datetime

LATE = " (an earlier decision, delivered late: the newer one stands)"


def superseded(stored_at: datetime | None, stated_at: datetime | None) -> bool:
    """Whether a change Meta stated at `stated_at` is older than the state stored at
    `stored_at` (equal times are not older: a replay of the same change is applied again,
    idempotently)."""
    return stored_at is not None and stated_at is not None and stated_at < stored_at

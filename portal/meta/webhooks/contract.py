"""The contract between the webhook pipeline and the per-field parsers and appliers.

The pipeline (`portal.meta.services`: claim, envelope, route, isolate, retry) hands each stored
change to the parser registered for its field, then to the applier the owning app registered, in
the client's schema and inside a savepoint of its own. Parsers turn Meta's payload into our typed
objects (Meta's names stop in `portal/meta/`); appliers change state and record events.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from portal.threadflags import ThreadFlag


class WebhookRejected(ValueError):
    """A payload (a delivery, a change or one item of it) that is not a shape Meta documents or
    is known to send. Rejected work is kept with its reason and never retried in a loop."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ItemFailure:
    """One item of a change (a status, an inbound message, a restriction) that could not be
    applied while the rest of the change was.

    `value` is a complete value for the same field holding only that item, so the pipeline can
    keep it as a change of its own and retry it alone; `rejected` items (a bad shape) are kept
    with their reason and never retried.
    """

    index: int
    kind: str
    value: dict
    error: str
    rejected: bool = False


@dataclass(frozen=True)
class Change:
    """A routed change as an applier sees it."""

    field: str
    entry_id: str  # entry[].id: the WABA id (or a partner's portfolio id for PARTNER_* events)
    entry_time: datetime | None  # entry[].time, when Meta sent one
    key: str  # the change's dedupe key: events derived from it must be keyed from it
    data: Any  # what the field's parser returned
    received_at: datetime  # when the delivery reached us: the time of last resort

    @property
    def stated_at(self) -> datetime:
        """The time Meta stated for this change (entry time), else when we received it."""
        return self.entry_time or self.received_at


@dataclass
class Applied:
    """What an applier reports back. `late`: Meta's time for the change is older than the state
    already stored, so it was recorded as an event and left the state alone."""

    late: bool = False
    failures: list[ItemFailure] = field(default_factory=list)


Parser = Callable[[dict], Any]
Applier = Callable[[Change], Applied | None]
# Optional: applies many changes of one field for one client at once (set-based); returns an
# Applied per change key. If it raises, the pipeline falls back to the single applier per change.
BatchApplier = Callable[[Sequence[Change]], dict[str, Applied]]


@dataclass(frozen=True)
class FieldHandler:
    parser: Parser
    applier: Applier
    batch_applier: BatchApplier | None = None


_HANDLERS: dict[str, FieldHandler] = {}


def register(
    field_name: str,
    *,
    parser: Parser,
    applier: Applier,
    batch_applier: BatchApplier | None = None,
) -> None:
    """Called by the owning app's `AppConfig.ready()` (plain imports, no dotted strings)."""
    _HANDLERS[field_name] = FieldHandler(parser, applier, batch_applier)


def handler_for(field_name: str) -> FieldHandler | None:
    return _HANDLERS.get(field_name)


def handled_fields() -> frozenset[str]:
    return frozenset(_HANDLERS)


# Optional, registered by an app like its handlers: a context entered around each client group
# the pipeline applies together (one savepoint for the lot), exited before that savepoint ends.
# An error inside reaches it, and the group is then applied again change by change without it.
GroupScope = Callable[[], AbstractContextManager]

_GROUP_SCOPES: list[GroupScope] = []


def group_scope_register(scope: GroupScope) -> None:
    if scope not in _GROUP_SCOPES:
        _GROUP_SCOPES.append(scope)


def group_scopes() -> tuple[GroupScope, ...]:
    return tuple(_GROUP_SCOPES)


# Set while the pipeline applies a group in its first, optimistic pass: whatever an applier
# raises there rolls the group back and applies it again with a savepoint per set-based group
# and per change. An applier's own savepoints (to isolate one item's failure) are only needed
# in that second pass; in the first they would cost two round trips a group for nothing.
_optimistic = ThreadFlag()


def failures_retried_isolated() -> AbstractContextManager[None]:
    """The pipeline's first pass: inside, an applier may let any error propagate."""
    return _optimistic.set_to(True)


def failures_isolated_here() -> AbstractContextManager[None]:
    """The pipeline's second pass (and any caller outside it): appliers isolate their items."""
    return _optimistic.set_to(False)


def failures_are_retried() -> bool:
    """Whether an error raised now will be retried isolated by the pipeline."""
    return bool(_optimistic)

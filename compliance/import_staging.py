"""An upload kept between its preview and "Apply": stored under the client's schema name, named
by a signed token that only this client's host accepts, removed once applied.

Nothing here reads or validates rows (that is `imports.import_preview` and the import job).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

from django.core import signing
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import connection
from django.utils import timezone

_SALT = "compliance.import_staging"
MAX_AGE_SECONDS = 3600


class StagedGone(Exception):
    """The token is unknown, expired, of another client, or its file was applied already."""


def stage(*, upload) -> str:
    """Store the upload; returns the token the Apply button posts."""
    name = str(getattr(upload, "name", "") or "import.csv").rsplit("/", 1)[-1][-200:]
    upload.seek(0)
    # The folder carries the staging time (the portal's clock, not the file system's mtime).
    staged_at = int(timezone.now().timestamp())
    path = default_storage.save(
        f"consent-previews/{connection.schema_name}/{staged_at}-{uuid.uuid4().hex}/{name}",
        File(upload),
    )
    upload.seek(0)
    return signing.dumps({"p": path, "s": connection.schema_name}, salt=_SALT)


@contextlib.contextmanager
def staged(*, token: str) -> Iterator[File]:
    """The staged file as an upload; deleted afterwards if the block succeeds."""
    try:
        payload = signing.loads(token, salt=_SALT, max_age=MAX_AGE_SECONDS)
    except signing.BadSignature:
        raise StagedGone("That preview has expired; upload the file again.") from None
    path = payload.get("p", "")
    if payload.get("s") != connection.schema_name or not default_storage.exists(path):
        raise StagedGone("That preview is no longer available; upload the file again.")
    with default_storage.open(path, "rb") as stored:
        upload = File(stored, name=path.rsplit("/", 1)[-1])
        yield upload
    default_storage.delete(path)


def staged_purge_expired(*, now=None) -> int:
    """Remove this client's previews that were never applied (older than MAX_AGE_SECONDS);
    run by the client's housekeeping task. Returns how many files it removed."""
    cutoff = (now or timezone.now()).timestamp() - MAX_AGE_SECONDS
    root = f"consent-previews/{connection.schema_name}"
    removed = 0
    try:
        folders, _ = default_storage.listdir(root)
    except FileNotFoundError:
        return 0
    for folder in folders:
        stamp = folder.split("-", 1)[0]
        _, files = default_storage.listdir(f"{root}/{folder}")
        for name in files:
            path = f"{root}/{folder}/{name}"
            # A folder of before the stamp was kept falls back to the file's own time.
            staged_at = (
                int(stamp)
                if stamp.isdigit()
                else default_storage.get_modified_time(path).timestamp()
            )
            if staged_at < cutoff:
                default_storage.delete(path)
                removed += 1
    return removed

"""Writes for clients, people, access and API keys. Views, commands, tasks and admin call these."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, schema_context

from portal.audit.services import audit_record
from portal.bulk import json_rows
from tenants.choices import ApiScope, ClientRole, ClientStatus, StaffRole
from tenants.models import ApiKey, Client, Domain, LoginHandoff, Membership, User, WorkItem

SLUG_RE = re.compile(r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$")
RESERVED_SLUGS = frozenset(
    {"www", "public", "api", "admin", "staff", "static", "media", "mail", "webhooks", "template"}
)
TEMPLATE_SLUG = "tenant-template"
API_KEY_PREFIX = "bsp"


def _schema_for(slug: str) -> str:
    return "c_" + slug.replace("-", "_")


def client_validate_slug(slug: str) -> None:
    if not SLUG_RE.match(slug):
        raise ValidationError(
            "Use 3 to 40 lowercase letters, digits and hyphens, starting with a letter.",
            code="invalid_slug",
        )
    if slug in RESERVED_SLUGS:
        raise ValidationError(f"“{slug}” is reserved.", code="reserved_slug")
    if Client.objects.filter(slug=slug).exists():
        raise ValidationError(f"A client with the address “{slug}” already exists.", code="taken")


def _require_public_connection() -> None:
    # django-tenants can only create a schema from the public schema (see architecture pitfalls).
    if connection.schema_name != get_public_schema_name():
        raise RuntimeError("Clients are created from the public schema only.")


def template_schema_ensure() -> Client:
    """Return the clone template, building it by plain migrations the first time."""
    template = Client.objects.filter(is_template=True).first()
    if template is not None:
        return template
    _require_public_connection()
    template = Client(
        name="Tenant template",
        slug=TEMPLATE_SLUG,
        schema_name=settings.TENANT_BASE_SCHEMA,
        is_template=True,
    )
    template._plain_migrations = True
    template.save(verbosity=0)
    connection.set_schema_to_public()
    return template


def client_create(
    *,
    name: str,
    slug: str,
    owner_email: str,
    owner_password: str | None = None,
    default_region: str = "US",
    actor: User | None = None,
    plain_migrations: bool = False,
) -> Client:
    """Provision a client: schema (cloned from the template), domain, owner and membership.

    All of it happens in one transaction, so a failure leaves no half-made client behind.
    `plain_migrations` replays every migration instead of cloning (benchmark baseline only).
    """
    slug = slug.strip().lower()
    client_validate_slug(slug)
    _require_public_connection()
    if not plain_migrations:
        template_schema_ensure()
    with transaction.atomic():
        client = Client(
            name=name.strip(),
            slug=slug,
            schema_name=_schema_for(slug),
            default_region=default_region.upper(),
        )
        client._plain_migrations = plain_migrations
        client.save(verbosity=0)
        connection.set_schema_to_public()
        Domain.objects.create(domain=client_host(client), tenant=client, is_primary=True)
        owner = User.objects.filter(email__iexact=owner_email).first() or user_create(
            email=owner_email, password=owner_password, actor=actor
        )
        Membership.objects.create(user=owner, client=client, role=ClientRole.OWNER)
        audit_record(
            action="client.created",
            actor=actor,
            client=client,
            target=client,
            after={"name": client.name, "slug": slug, "owner": owner.email},
        )
    return client


def client_host(client: Client) -> str:
    return f"{client.slug}.{settings.PORTAL_DOMAIN}"


def user_create(
    *,
    email: str,
    password: str | None,
    full_name: str = "",
    staff_role: StaffRole | str = "",
    actor: User | None = None,
) -> User:
    """Create a person. A staff role makes them BSP staff; `superuser` also grants Django's."""
    email = email.strip().lower()
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError(f"{email} already has an account.", code="taken")
    is_staff = bool(staff_role)
    user = User.objects.create_user(
        email=email,
        password=password,
        full_name=full_name,
        is_staff=is_staff,
        is_superuser=staff_role == StaffRole.SUPERUSER,
        staff_role=staff_role,
    )
    audit_record(
        action="user.created",
        actor=actor,
        target=user,
        after={"email": email, "staff_role": str(staff_role)},
    )
    return user


def user_deactivate(*, user: User, actor: User | None = None) -> User:
    """Stop someone signing in, keeping what they did on record."""
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if locked.is_active:
            locked.is_active = False
            locked.save(update_fields=["is_active"])
            audit_record(action="user.deactivated", actor=actor, target=locked)
    return locked


def membership_grant(
    *, client: Client, user: User, role: ClientRole | str, actor: User | None = None
) -> Membership:
    """Give `user` a role in `client`, or change the role they have."""
    with transaction.atomic():
        membership = Membership.objects.select_for_update().filter(client=client, user=user).first()
        before = {"role": membership.role} if membership else None
        if membership is None:
            membership = Membership.objects.create(client=client, user=user, role=role)
        elif membership.role != role:
            membership.role = role
            membership.save(update_fields=["role"])
        else:
            return membership
        audit_record(
            action="membership.granted",
            actor=actor,
            client=client,
            target=membership,
            before=before,
            after={"user": user.email, "role": str(role)},
        )
    return membership


# --- API keys ---------------------------------------------------------------------------


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_create(
    *,
    client: Client,
    name: str,
    scopes: list[str] | None = None,
    actor: User | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; the raw key is returned once and never stored."""
    scopes = scopes or [ApiScope.READ, ApiScope.WRITE]
    unknown = set(scopes) - set(ApiScope.values)
    if unknown:
        raise ValidationError(f"Unknown scopes: {', '.join(sorted(unknown))}.", code="scope")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    raw = f"{API_KEY_PREFIX}_{prefix}_{secret}"
    with transaction.atomic():
        key = ApiKey.objects.create(
            client=client,
            name=name,
            prefix=prefix,
            key_hash=_hash_secret(raw),
            scopes=[str(s) for s in scopes],
            created_by=actor,
        )
        audit_record(
            action="api_key.created",
            actor=actor,
            client=client,
            target=key,
            after={"name": name, "prefix": prefix, "scopes": key.scopes},
        )
    return key, raw


def api_key_authenticate(*, raw: str, client: Client) -> ApiKey | None:
    """The active key of `client` matching `raw`, or None. A key works on its own client only."""
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX:
        return None
    key = (
        ApiKey.objects.select_related("client")
        .filter(prefix=parts[1], client=client, revoked_at__isnull=True)
        .first()
    )
    if key is None or not secrets.compare_digest(key.key_hash, _hash_secret(raw)):
        return None
    now = timezone.now()
    # Throttle the last-use write: one UPDATE a minute per key is plenty for an audit view.
    if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


def api_key_revoke(*, api_key: ApiKey, actor: User | None = None) -> ApiKey:
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().get(pk=api_key.pk)
        if key.revoked_at is None:
            key.revoked_at = timezone.now()
            key.save(update_fields=["revoked_at"])
            audit_record(
                action="api_key.revoked",
                actor=actor,
                client=key.client,
                target=key,
                after={"prefix": key.prefix},
            )
    return key


# --- Login hand-off between hosts --------------------------------------------------------

_HANDOFF_SALT = "tenants.handoff"


@dataclass(frozen=True)
class HandoffTicket:
    token: str
    client: Client


def login_handoff_issue(*, user: User, client: Client) -> HandoffTicket:
    """A signed, single-use token that logs `user` into `client`'s host."""
    jti = secrets.token_urlsafe(32)
    LoginHandoff.objects.create(
        jti=jti,
        user=user,
        client=client,
        expires_at=timezone.now() + timedelta(seconds=settings.TENANT_HANDOFF_MAX_AGE),
    )
    token = signing.dumps({"j": jti, "c": client.pk}, salt=_HANDOFF_SALT, compress=True)
    return HandoffTicket(token=token, client=client)


def login_handoff_redeem(*, token: str, client: Client) -> User | None:
    """The user a valid, unused, unexpired token for `client` names; the token is spent."""
    try:
        payload = signing.loads(token, salt=_HANDOFF_SALT, max_age=settings.TENANT_HANDOFF_MAX_AGE)
    except signing.BadSignature:
        return None
    if payload.get("c") != client.pk:
        return None
    now = timezone.now()
    spent = LoginHandoff.objects.filter(
        jti=payload.get("j"), client=client, used_at__isnull=True, expires_at__gt=now
    ).update(used_at=now)
    if spent != 1:
        return None
    handoff = LoginHandoff.objects.select_related("user").get(jti=payload["j"])
    return handoff.user if handoff.user.is_active else None


def login_handoff_purge_expired(*, now=None) -> int:
    deleted, _ = LoginHandoff.objects.filter(expires_at__lt=now or timezone.now()).delete()
    return deleted


# --- Staff entry and housekeeping --------------------------------------------------------


def staff_entry_record(*, user: User, client: Client, request=None) -> None:
    """Staff entering a client's portal is always audited."""
    audit_record(
        action="client.staff_entry", actor=user, client=client, target=client, request=request
    )


def staff_appeal_opened_record(*, user: User, client: Client, appeal, request=None) -> None:
    """BSP staff opening one of the client's appeals: on the client's activity trail as
    "BSP staff opened your appeal" (the staff appeal page calls it once per session and appeal)."""
    audit_record(
        action="appeal.staff_opened",
        actor=user,
        client=client,
        target=appeal,
        after={"appeal": appeal.pk},
        request=request,
    )


def client_housekeep_current_schema() -> dict:
    """Record the size of the schema the connection is in on its client row.

    Runs inside a tenant (a tenant task), so the figure is that client's own tables.
    """
    schema = connection.schema_name
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %s AND c.relkind IN ('r', 'm')
            """,
            [schema],
        )
        (size,) = cursor.fetchone()
    with schema_context(get_public_schema_name()):
        Client.objects.filter(schema_name=schema).update(
            storage_bytes=int(size), housekept_at=timezone.now()
        )
    return {"schema": schema, "storage_bytes": int(size)}


def client_set_status(*, client: Client, status: ClientStatus, actor: User | None = None) -> Client:
    with transaction.atomic():
        locked = Client.objects.select_for_update().get(pk=client.pk)
        if locked.status != status:
            before = {"status": locked.status}
            locked.status = status
            locked.save(update_fields=["status"])
            audit_record(
                action="client.status_changed",
                actor=actor,
                client=locked,
                target=locked,
                before=before,
                after={"status": str(status)},
            )
    return locked


def api_key_rotate(*, api_key: ApiKey, actor: User | None = None) -> tuple[ApiKey, str]:
    """Replace a key by a new one with the same name and scopes, revoking the old at once.
    Returns the new key and its raw value (shown once)."""
    with transaction.atomic():
        old = ApiKey.objects.select_for_update().select_related("client").get(pk=api_key.pk)
        if old.revoked_at is not None:
            raise ValidationError(
                "A revoked key cannot be rotated; create a new one.", code="revoked"
            )
        new, raw = api_key_create(
            client=old.client, name=old.name, scopes=list(old.scopes), actor=actor
        )
        old.revoked_at = timezone.now()
        old.save(update_fields=["revoked_at"])
        audit_record(
            action="api_key.rotated",
            actor=actor,
            client=old.client,
            target=old,
            before={"prefix": old.prefix},
            after={"prefix": new.prefix},
        )
    return new, raw


_WORK_ITEM_UPSERT = f"""
    INSERT INTO {WorkItem._meta.db_table}
        (kind, client_id, object_id, title, subtitle, status, band, sort_key, data, updated_at)
    SELECT r.kind, r.client, r.object_id, r.title, r.subtitle, r.status, r.band, r.sort_key,
        r.data, r.updated_at
    FROM jsonb_to_recordset(%s::jsonb) AS r(kind text, client bigint, object_id text, title text,
        subtitle text, status text, band text, sort_key integer, data jsonb,
        updated_at timestamptz)
    ON CONFLICT (kind, client_id, object_id) DO UPDATE SET title = EXCLUDED.title,
        subtitle = EXCLUDED.subtitle, status = EXCLUDED.status, band = EXCLUDED.band,
        sort_key = EXCLUDED.sort_key, data = EXCLUDED.data, updated_at = EXCLUDED.updated_at
"""  # noqa: S608 - the table name is ours


def work_items_upsert(items: Sequence[WorkItem]) -> None:
    """Write these rows of the staff work index (public schema), each inserted or, when its
    (kind, client, object) is there already, replaced: one statement, whatever the caller's
    schema. The one way the apps mirror their rows into the index (numbers, templates in
    review, appeals). `bulk_create(update_conflicts=…)` compiled a placeholder per value, on
    every sync of every client."""
    if not items:
        return
    rows = [
        {
            "kind": item.kind,
            "client": item.client_id,
            "object_id": item.object_id,
            "title": item.title,
            "subtitle": item.subtitle,
            "status": item.status,
            "band": item.band,
            "sort_key": item.sort_key,
            "data": item.data,
            "updated_at": item.updated_at,
        }
        for item in items
    ]
    with connection.cursor() as cursor:
        cursor.execute(_WORK_ITEM_UPSERT, [json_rows(rows)])

from __future__ import annotations

import logging
from functools import cache

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.management import call_command
from django.db import connection, models
from django.db.models import F
from django.db.models.fields.json import KeyTransform
from django.utils import timezone
from django_tenants.models import DomainMixin, TenantMixin
from django_tenants.utils import get_public_schema_name, schema_exists

from tenants.choices import ApiScope, ClientRole, ClientStatus, StaffRole
from tenants.cloning import UnsupportedTemplate, schema_copy

logger = logging.getLogger(__name__)


class Client(TenantMixin):
    """A business using WhatsApp through the BSP; one PostgreSQL schema each."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=50, unique=True)
    status = models.CharField(max_length=20, choices=ClientStatus, default=ClientStatus.ACTIVE)
    # The clone source for new clients: a tenant row so `migrate` keeps it current, never routed.
    is_template = models.BooleanField(default=False)
    default_region = models.CharField(
        max_length=2, default="US", help_text="ISO country for phone numbers written without +."
    )
    account_manager = models.ForeignKey(
        "tenants.User",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="managed_clients",
        limit_choices_to={"is_staff": True},
        help_text="BSP staff member who receives this client's alerts.",
    )
    storage_bytes = models.BigIntegerField(null=True, blank=True)
    housekept_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    auto_create_schema = True
    auto_drop_schema = False

    class Meta:
        ordering = ["name"]
        # Staff lists of clients by name (the console's pages, Fleet health by client) walk
        # this and stop after a page, instead of sorting every client.
        indexes = [models.Index(fields=["name", "id"], name="client_by_name")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_public(self) -> bool:
        return self.schema_name == get_public_schema_name()

    def get_base_schema(self):
        # Provisioning sets `_plain_migrations` to build a schema by replaying migrations (the
        # template itself, and the benchmark's baseline) instead of cloning.
        if getattr(self, "_plain_migrations", False):
            return False
        return super().get_base_schema()

    def create_schema(self, check_if_exists=False, sync_schema=True, verbosity=1):
        """Copy the template (see tenants.cloning), then migrate for real only if the template
        is behind the code.

        django-tenants would clone with a function that slows down as clients are added, then
        run `migrate_schemas --fake`: slow (it loads the migration graph and fires post_migrate
        each time) and wrong when the template is stale, since faking marks the missing
        migrations applied without running them.
        """
        base = self.get_base_schema()
        if not (sync_schema and base and schema_exists(base)):
            return super().create_schema(check_if_exists, sync_schema, verbosity)
        if check_if_exists and schema_exists(self.schema_name):
            return False
        try:
            schema_copy(source=base, target=self.schema_name)
        except UnsupportedTemplate as exc:
            logger.warning("Template %s cannot be copied (%s); running migrations", base, exc)
            self._plain_migrations = True
            return super().create_schema(check_if_exists, sync_schema, verbosity)
        with connection.cursor() as cursor:
            cursor.execute(f'SELECT app, name FROM "{self.schema_name}".django_migrations')  # noqa: S608
            applied = set(cursor.fetchall())
        if _all_migrations() - applied:
            call_command(
                "migrate_schemas",
                tenant=True,
                schema_name=self.schema_name,
                interactive=False,
                verbosity=verbosity,
            )
        connection.set_schema_to_public()
        return True


@cache
def _all_migrations() -> frozenset[tuple[str, str]]:
    """Every migration the code has; a schema whose history lacks one needs migrating."""
    from django.db.migrations.loader import MigrationLoader

    return frozenset(MigrationLoader(None, ignore_no_migrations=True).graph.nodes)


class Domain(DomainMixin):
    """A host name routed to a client (`<slug>.<PORTAL_DOMAIN>`)."""

    def __str__(self) -> str:
        return self.domain


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra) -> User:
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra) -> User:
        extra.update(is_staff=True, is_superuser=True, staff_role=StaffRole.SUPERUSER)
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, username: str) -> User:
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    """A person: a client user (through memberships) or BSP staff (`is_staff` with a role)."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(
        default=False, help_text="BSP staff: may use the staff console and enter any client."
    )
    staff_role = models.CharField(max_length=30, choices=StaffRole, blank=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email


class Membership(models.Model):
    """A client user's role in one client. Access to a client host requires one (or staff)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=ClientRole)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["client__name", "user__email"]
        constraints = [
            models.UniqueConstraint(fields=["user", "client"], name="membership_unique_user_client")
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.client} ({self.role})"


class ApiKey(models.Model):
    """A client's key for the REST API. Only a SHA-256 hash of the secret is stored."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def has_scope(self, scope: ApiScope | str) -> bool:
        return str(scope) in self.scopes


class LoginHandoff(models.Model):
    """A single-use ticket that carries a login from one host to a client host.

    Session cookies are host-only, so each client host has a session of its own; the hand-off
    lets one login reach every client a user belongs to without sharing a session between them.
    """

    jti = models.CharField(max_length=43, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="+")
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"hand-off of {self.user_id} to {self.client_id}"


class AssetKind(models.TextChoices):
    WABA = "waba", "WhatsApp Business Account"
    PHONE_NUMBER = "phone_number", "Phone number"


class MetaAssetRoute(models.Model):
    """Which client owns a Meta id: how a webhook finds its tenant without touching schemas."""

    kind = models.CharField(max_length=20, choices=AssetKind)
    meta_id = models.CharField(max_length=64)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="meta_routes")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "meta_id"], name="meta_route_unique_id")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.meta_id} → {self.client_id}"


class WorkKind(models.TextChoices):
    NUMBER_HEALTH = "number_health", "Number health"
    TEMPLATE_REVIEW = "template_review", "Template review"
    APPEAL = "appeal", "Appeal"


class WorkItem(models.Model):
    """The staff work index: one public row per tenant-side item staff must see across clients.

    Written by one service in the same transaction as the tenant-side change, so a staff queue
    is one indexed query however many clients there are.
    """

    kind = models.CharField(max_length=30, choices=WorkKind)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="work_items")
    object_id = models.CharField(max_length=64, help_text="Primary key of the tenant-side row.")
    title = models.CharField(max_length=200)
    subtitle = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=40, blank=True)
    band = models.CharField(max_length=20, blank=True)
    # Lower sorts first: a health score, or seconds since epoch of when the wait began.
    sort_key = models.IntegerField(default=0)
    data = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "client", "object_id"], name="work_item_unique_object"
            )
        ]
        indexes = [
            models.Index(fields=["kind", "sort_key", "id"], name="work_item_queue"),
            # "Mine" in a staff queue: the assignee is in `data` (one shape for every kind).
            models.Index(
                F("kind"),
                KeyTransform("assignee_id", "data"),
                F("sort_key"),
                F("id"),
                name="work_item_assignee_queue",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.title}"


class Invitation(models.Model):
    """An invitation to join a client with a role, sent by e-mail as a single-use link.

    Only a SHA-256 hash of the link's token is stored; the link works once, until it expires,
    and not after it is revoked.
    """

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=20, choices=ClientRole)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["client", "-created_at"], name="invitation_client_at")]

    def __str__(self) -> str:
        return f"{self.email} → {self.client_id} ({self.role})"

    def state(self, now=None) -> str:
        """pending, accepted, revoked or expired."""
        if self.accepted_at is not None:
            return "accepted"
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= (now or timezone.now()):
            return "expired"
        return "pending"


class NotificationDelivery(models.TextChoices):
    IMMEDIATE = "immediate", "At once"
    DAILY = "daily", "Daily digest"


class NotificationSetting(models.Model):
    """Which alerts one member receives by e-mail in one client, and when.

    A member without a row gets the defaults (`tenants.notifications.DEFAULTS`).
    """

    membership = models.OneToOneField(
        Membership, on_delete=models.CASCADE, related_name="notification_setting"
    )
    # Severities (compliance.choices.Severity values) that are e-mailed; empty: none.
    severities = models.JSONField(default=list)
    delivery = models.CharField(
        max_length=10, choices=NotificationDelivery, default=NotificationDelivery.IMMEDIATE
    )
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"notifications of {self.membership_id}: {self.severities} {self.delivery}"


class DigestEntry(models.Model):
    """An alert waiting for a member's daily digest; deleted once the digest is sent."""

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="+")
    severity = models.CharField(max_length=20)
    title = models.CharField(max_length=300)
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["membership", "created_at"], name="digest_member_at")]

    def __str__(self) -> str:
        return f"digest {self.membership_id}: {self.title}"

"""A client's people, managed by its owners and admins: invitations by e-mail (a single-use link
that expires), role changes and removal. A client always keeps at least one owner.

Run in the public schema (memberships and invitations are public tables). Each write locks what
it changes, writes an audit row in the same transaction and sends e-mail after commit.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from portal.audit.services import audit_record
from tenants.choices import ClientRole
from tenants.models import Client, Invitation, Membership, User

INVITATION_DAYS = 7


class InvitationInvalid(Exception):
    """The link cannot be used; `reason` is one of unknown, accepted, revoked, expired."""

    MESSAGES = {
        "unknown": "This invitation link is not valid. Ask for a new invitation.",
        "accepted": "This invitation has already been used. Sign in instead.",
        "revoked": "This invitation was withdrawn. Ask for a new invitation.",
        "expired": "This invitation has expired. Ask for a new invitation.",
    }

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(self.MESSAGES[reason])


def _owner_rule(*, client: Client, actor: User, role: str | None, target_role: str | None) -> None:
    """Only owners (or BSP staff) make owners, or change or remove one."""
    if ClientRole.OWNER not in (role, target_role) or getattr(actor, "is_staff", False):
        return
    actor_role = (
        Membership.objects.filter(client=client, user=actor).values_list("role", flat=True).first()
    )
    if actor_role != ClientRole.OWNER:
        raise ValidationError("Only an owner can make, change or remove an owner.", code="owner")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_create(
    *, client: Client, email: str, role: ClientRole | str, actor: User, accept_url: str
) -> tuple[Invitation, str]:
    """Invite `email` to `client` with `role`; e-mail the link after commit.

    `accept_url` is the link with `{token}` in it. Returns the invitation and the raw token
    (never stored). An earlier pending invitation for the same address is withdrawn.
    """
    email = email.strip().lower()
    if role not in ClientRole.values:
        raise ValidationError(f"Unknown role {role!r}.", code="role")
    if Membership.objects.filter(client=client, user__email__iexact=email).exists():
        raise ValidationError(f"{email} is already a member.", code="member")
    _owner_rule(client=client, actor=actor, role=role, target_role=None)
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        Invitation.objects.filter(
            client=client,
            email=email,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
        ).update(revoked_at=now)
        invitation = Invitation.objects.create(
            client=client,
            email=email,
            role=role,
            token_hash=_token_hash(token),
            invited_by=actor,
            created_at=now,
            expires_at=now + timedelta(days=INVITATION_DAYS),
        )
        audit_record(
            action="invitation.created",
            actor=actor,
            client=client,
            target=invitation,
            after={
                "email": email,
                "role": str(role),
                "expires_at": invitation.expires_at.isoformat(),
            },
        )
        link = accept_url.format(token=token)
        transaction.on_commit(
            lambda: send_mail(
                subject=f"You are invited to {client.name} on the BSP portal",
                message=(
                    f"{actor.get_full_name()} invited you to {client.name} as "
                    f"{ClientRole(role).label.lower()}.\n\nAccept within {INVITATION_DAYS} days "
                    f"(the link works once):\n{link}\n"
                ),
                from_email=None,
                recipient_list=[email],
            )
        )
    return invitation, token


def invitation_revoke(*, invitation: Invitation, actor: User) -> Invitation:
    with transaction.atomic():
        locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if locked.state() == "pending":
            locked.revoked_at = timezone.now()
            locked.save(update_fields=["revoked_at"])
            audit_record(
                action="invitation.revoked",
                actor=actor,
                client=locked.client,
                target=locked,
                after={"email": locked.email},
            )
    return locked


def invitation_lookup(*, client: Client, token: str) -> Invitation:
    """The usable invitation for `token` on `client`'s host, or InvitationInvalid saying why."""
    invitation = (
        Invitation.objects.select_related("client")
        .filter(client=client, token_hash=_token_hash(token or ""))
        .first()
    )
    if invitation is None:
        raise InvitationInvalid("unknown")
    state = invitation.state()
    if state != "pending":
        raise InvitationInvalid(state)
    return invitation


def invitation_accept(
    *, client: Client, token: str, password: str, full_name: str = ""
) -> tuple[Membership, User]:
    """Spend the link: create the person (or check the password of the existing account) and
    their membership, in one transaction. Raises InvitationInvalid or ValidationError."""
    with transaction.atomic():
        invitation = invitation_lookup(client=client, token=token)
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if invitation.state() != "pending":  # spent by a concurrent request
            raise InvitationInvalid(invitation.state())
        user = User.objects.filter(email__iexact=invitation.email).first()
        if user is None:
            from tenants.services import user_create

            user = user_create(
                email=invitation.email, password=password, full_name=full_name.strip()
            )
        elif not user.is_active or not user.check_password(password):
            raise ValidationError(
                "That is not the password of the account for this e-mail address.",
                code="password",
            )
        membership, created = Membership.objects.get_or_create(
            client=client, user=user, defaults={"role": invitation.role}
        )
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        audit_record(
            action="invitation.accepted",
            actor=user,
            client=client,
            target=invitation,
            after={"email": user.email, "role": membership.role, "new_member": created},
        )
    return membership, user


def _owners_left(client: Client, *, without: Membership) -> int:
    return (
        Membership.objects.select_for_update()
        .filter(client=client, role=ClientRole.OWNER, user__is_active=True)
        .exclude(pk=without.pk)
        .count()
    )


def membership_change_role(
    *, membership: Membership, role: ClientRole | str, actor: User
) -> Membership:
    """Change a member's role; the last owner cannot be demoted."""
    if role not in ClientRole.values:
        raise ValidationError(f"Unknown role {role!r}.", code="role")
    with transaction.atomic():
        locked = Membership.objects.select_for_update().select_related("user").get(pk=membership.pk)
        if locked.role == role:
            return locked
        _owner_rule(client=locked.client, actor=actor, role=role, target_role=locked.role)
        if locked.role == ClientRole.OWNER and not _owners_left(locked.client, without=locked):
            raise ValidationError(
                "This is the last owner: make someone else owner first.", code="last_owner"
            )
        before = {"role": locked.role}
        locked.role = role
        locked.save(update_fields=["role"])
        audit_record(
            action="membership.role_changed",
            actor=actor,
            client=locked.client,
            target=locked,
            before=before,
            after={"user": locked.user.email, "role": str(role)},
        )
    return locked


def membership_remove(*, membership: Membership, actor: User) -> None:
    """Take a member out of the client (their account stays); never the last owner."""
    with transaction.atomic():
        locked = Membership.objects.select_for_update().select_related("user").get(pk=membership.pk)
        _owner_rule(client=locked.client, actor=actor, role=None, target_role=locked.role)
        if locked.role == ClientRole.OWNER and not _owners_left(locked.client, without=locked):
            raise ValidationError(
                "This is the last owner: make someone else owner first.", code="last_owner"
            )
        audit_record(
            action="membership.removed",
            actor=actor,
            client=locked.client,
            target=locked,
            before={"user": locked.user.email, "role": locked.role},
        )
        locked.delete()


def invitation_accept_url(*, scheme: str, client: Client, port: str = "") -> str:
    """The accept link's pattern on the client's host ({token} to be filled in)."""
    suffix = f":{port}" if port else ""
    return f"{scheme}://{client.slug}.{settings.PORTAL_DOMAIN}{suffix}/auth/invitations/{{token}}/"

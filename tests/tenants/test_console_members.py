"""Members: invitations by e-mail (single use, expiring), role changes, removal, and the last
owner who can be neither removed nor demoted."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.test import TestCase
from django.utils import timezone

from portal.audit.models import AuditLog
from tenants.choices import ClientRole
from tenants.models import Invitation, Membership, User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _invite(web, acme, inviter, email="new.person@acme.example", role="agent"):
    """Invite through the page; the e-mail goes after commit (run here: tests never commit)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return web(acme, inviter).post("/settings/members/", {"email": email, "role": role})


def _link(mailoutbox) -> str:
    match = re.search(r"https?://\S+/auth/invitations/(\S+)/", mailoutbox[-1].body)
    return f"/auth/invitations/{match.group(1)}/"


def test_an_invitation_is_mailed_and_accepting_creates_the_person_and_membership(
    web, acme, acme_admin, mailoutbox
):
    response = _invite(web, acme, acme_admin)

    assert response.status_code == 302
    assert mailoutbox[-1].to == ["new.person@acme.example"]
    assert "Acme Retail" in mailoutbox[-1].subject
    link = _link(mailoutbox)
    visitor = web(acme)
    assert "Join Acme Retail" in visitor.get(link).content.decode()

    joined = visitor.post(
        link,
        {"full_name": "New Person", "password": "a-long-pass-9", "password_again": "a-long-pass-9"},
    )

    assert joined.status_code == 302
    user = User.objects.get(email="new.person@acme.example")
    assert user.full_name == "New Person"
    assert Membership.objects.get(client=acme, user=user).role == ClientRole.AGENT
    assert visitor.get("/").status_code == 200  # signed in on the client's host
    assert AuditLog.objects.filter(action="invitation.accepted", actor=user, client=acme).count()


def test_a_used_link_says_so_and_adds_nobody(web, acme, acme_owner, mailoutbox):
    _invite(web, acme, acme_owner)
    link = _link(mailoutbox)
    data = {"password": "a-long-pass-9", "password_again": "a-long-pass-9"}
    web(acme).post(link, data)

    again = web(acme).get(link)
    post_again = web(acme).post(link, data)

    assert again.status_code == 410
    assert "already been used" in again.content.decode()
    assert post_again.status_code == 410
    assert (
        Membership.objects.filter(client=acme, user__email="new.person@acme.example").count() == 1
    )


def test_an_expired_link_says_so(web, acme, acme_owner, mailoutbox):
    _invite(web, acme, acme_owner)
    link = _link(mailoutbox)

    with time_machine.travel(timezone.now() + timedelta(days=7, minutes=1)):
        response = web(acme).post(
            link, {"password": "a-long-pass-9", "password_again": "a-long-pass-9"}
        )

    assert response.status_code == 410
    assert "This invitation has expired." in response.content.decode()
    assert not User.objects.filter(email="new.person@acme.example").exists()


def test_a_link_still_works_just_before_it_expires(web, acme, acme_owner, mailoutbox):
    _invite(web, acme, acme_owner)
    link = _link(mailoutbox)

    with time_machine.travel(timezone.now() + timedelta(days=6, hours=23)):
        response = web(acme).get(link)

    assert response.status_code == 200


def test_a_withdrawn_or_reissued_invitation_link_stops_working(web, acme, acme_owner, mailoutbox):
    _invite(web, acme, acme_owner)
    first = _link(mailoutbox)
    _invite(web, acme, acme_owner, role="viewer")  # a new one replaces it
    second = _link(mailoutbox)

    assert web(acme).get(first).status_code == 410
    invitation = Invitation.objects.get(client=acme, revoked_at__isnull=True)
    web(acme, acme_owner).post(f"/settings/invitations/{invitation.pk}/revoke/")
    response = web(acme).get(second)
    assert response.status_code == 410
    assert "withdrawn" in response.content.decode()


def test_an_existing_account_joins_with_its_own_password(web, acme, globex_owner, mailoutbox):
    _invite(web, acme, User.objects.get(email="owner@acme.example"), email=globex_owner.email)
    link = _link(mailoutbox)

    wrong = web(acme).post(link, {"password": "not-it"})
    right = web(acme).post(link, {"password": "test-pass"})

    assert wrong.status_code == 400
    assert "That is not the password" in wrong.content.decode()
    assert right.status_code == 302
    assert Membership.objects.get(client=acme, user=globex_owner).role == ClientRole.AGENT


def test_an_invitation_link_of_one_client_does_not_work_on_another(
    web, acme, globex, acme_owner, mailoutbox
):
    _invite(web, acme, acme_owner)
    link = _link(mailoutbox)

    response = web(globex).post(
        link, {"password": "a-long-pass-9", "password_again": "a-long-pass-9"}
    )

    assert response.status_code == 404
    assert not User.objects.filter(email="new.person@acme.example").exists()


def test_inviting_a_member_or_a_bad_address_is_a_form_error(web, acme, acme_owner, mailoutbox):
    taken = _invite(web, acme, acme_owner, email="agent@acme.example")
    bad = _invite(web, acme, acme_owner, email="not-an-address")

    assert taken.status_code == 400
    assert "agent@acme.example is already a member." in taken.content.decode()
    assert bad.status_code == 400
    assert mailoutbox == []
    assert not Invitation.objects.filter(client=acme).exists()


def test_an_admin_changes_a_role_and_removes_a_member(web, acme, acme_admin, acme_viewer):
    http = web(acme, acme_admin)
    membership = Membership.objects.get(client=acme, user=acme_viewer)

    http.post(f"/settings/members/{membership.pk}/role/", {"role": "agent"})
    assert Membership.objects.get(pk=membership.pk).role == ClientRole.AGENT
    http.post(f"/settings/members/{membership.pk}/remove/")

    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert User.objects.get(pk=acme_viewer.pk).is_active  # the account stays
    assert [a.action for a in AuditLog.objects.filter(client=acme, actor=acme_admin)] == [
        "membership.removed",
        "membership.role_changed",
    ]


def test_the_last_owner_can_be_neither_demoted_nor_removed(web, acme, acme_owner):
    owner = Membership.objects.get(client=acme, user=acme_owner)
    http = web(acme, acme_owner)

    demoted = http.post(f"/settings/members/{owner.pk}/role/", {"role": "admin"}, follow=True)
    removed = http.post(f"/settings/members/{owner.pk}/remove/", follow=True)

    assert "This is the last owner" in demoted.content.decode()
    assert "This is the last owner" in removed.content.decode()
    assert Membership.objects.get(pk=owner.pk).role == ClientRole.OWNER


def test_with_a_second_owner_the_first_may_step_down(web, acme, acme_owner):
    second = UserFactory(email="second.owner@acme.example")
    Membership.objects.create(client=acme, user=second, role=ClientRole.OWNER)
    owner = Membership.objects.get(client=acme, user=acme_owner)

    web(acme, acme_owner).post(f"/settings/members/{owner.pk}/role/", {"role": "admin"})

    assert Membership.objects.get(pk=owner.pk).role == ClientRole.ADMIN


@pytest.mark.parametrize("person", ["acme_agent", "acme_viewer"])
def test_agents_and_viewers_cannot_manage_members(web, acme, acme_admin, person, request):
    http = web(acme, request.getfixturevalue(person))
    target = Membership.objects.get(client=acme, user=acme_admin)

    assert http.get("/settings/members/").status_code == 403
    assert (
        http.post("/settings/members/", {"email": "x@y.example", "role": "owner"}).status_code
        == 403
    )
    assert http.post(f"/settings/members/{target.pk}/remove/").status_code == 403
    assert http.post(f"/settings/members/{target.pk}/role/", {"role": "viewer"}).status_code == 403
    assert Membership.objects.get(pk=target.pk).role == ClientRole.ADMIN
    assert not Invitation.objects.exists()


def test_another_clients_members_are_out_of_reach(web, acme, globex, globex_owner, acme_agent):
    target = Membership.objects.get(client=acme, user=acme_agent)
    http = web(globex, globex_owner)

    assert http.post(f"/settings/members/{target.pk}/remove/").status_code == 404
    assert http.post(f"/settings/members/{target.pk}/role/", {"role": "viewer"}).status_code == 404
    assert "agent@acme.example" not in http.get("/settings/members/").content.decode()
    assert Membership.objects.get(pk=target.pk).role == ClientRole.AGENT


def test_the_members_and_keys_pages_take_a_fixed_number_of_queries(
    web, acme, acme_owner, django_assert_num_queries
):
    from tests.factories import ApiKeyFactory

    http = web(acme, acme_owner)
    http.get("/settings/members/")  # warm the host cache and the session

    with django_assert_num_queries(8):
        http.get("/settings/members/")
    with django_assert_num_queries(7):
        http.get("/settings/api-keys/")
    for n in range(5):
        Membership.objects.create(
            client=acme, user=UserFactory(email=f"m{n}@acme.example"), role=ClientRole.VIEWER
        )
        _invite(web, acme, acme_owner, email=f"i{n}@acme.example")
        ApiKeyFactory(client=acme, name=f"key {n}", actor=acme_owner)

    with django_assert_num_queries(8):
        http.get("/settings/members/")
    with django_assert_num_queries(7):
        http.get("/settings/api-keys/")


def test_only_an_owner_makes_changes_or_removes_an_owner(
    web, acme, acme_admin, acme_owner, acme_agent
):
    http = web(acme, acme_admin)
    owner = Membership.objects.get(client=acme, user=acme_owner)
    agent = Membership.objects.get(client=acme, user=acme_agent)

    invited = _invite(web, acme, acme_admin, email="boss@acme.example", role="owner")
    promoted = http.post(f"/settings/members/{agent.pk}/role/", {"role": "owner"}, follow=True)
    removed = http.post(f"/settings/members/{owner.pk}/remove/", follow=True)

    assert invited.status_code == 400
    assert invited.context["form"].errors == {
        "role": ["Only an owner can make, change or remove an owner."]
    }
    assert "Only an owner can make, change or remove an owner." in promoted.content.decode()
    assert "Only an owner can make, change or remove an owner." in removed.content.decode()
    assert Membership.objects.get(pk=agent.pk).role == ClientRole.AGENT
    assert Membership.objects.filter(pk=owner.pk).exists()
    assert not Invitation.objects.filter(client=acme).exists()
    web(acme, acme_owner).post(f"/settings/members/{agent.pk}/role/", {"role": "owner"})
    assert Membership.objects.get(pk=agent.pk).role == ClientRole.OWNER

"""Every error code's action (`compliance.error_actions`), through `delivery_errors_act`."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from compliance.error_actions import (
    ERROR_ACTIONS,
    Effect,
    Failure,
    delivery_errors_act,
    error_action_words,
)
from compliance.models import Alert, ConsentState, Contact, PhoneNumber, SyncRun
from compliance.presend import presend_check
from tests.assets import ACME_PHONE

NOW = timezone.now()
REQUIRED = {131026, 131042, 131047, 131048, 131049, 131050, 131053, 131056, 130429, 131031, 368}
TEMPLATE_ERRORS = {132000, 132001, 132005, 132007, 132012, 132015, 132016}


@pytest.fixture
def number(acme, acme_number):
    with schema_context(acme.schema_name):
        yield acme_number


def act(number, code, recipient="447911123456", at=NOW, wamid=None):
    return delivery_errors_act(
        number=number, failures=[Failure(recipient, code, wamid or f"wamid.{code}.{at}", at)]
    )


def test_the_table_covers_the_codes_with_plain_words():
    assert set(ERROR_ACTIONS) >= REQUIRED | TEMPLATE_ERRORS
    for row in ERROR_ACTIONS.values():
        assert row.meaning.endswith(".")
        assert row.client_should.endswith(".")
        assert row.portal_does
        assert (row.effect == Effect.NUMBER_BACKOFF) == (row.backoff is not None)
    assert error_action_words(131050).startswith("The person stopped marketing messages")
    assert "no action is known" in error_action_words(999999)


def test_131050_records_the_opt_out_once(number):
    assert act(number, 131050, wamid="w1") == ["opt-out 447911123456"]
    assert act(number, 131050, wamid="w1") == []
    state = ConsentState.objects.get(contact__phone="+447911123456", category="marketing")
    assert state.status == "opted_out"


def test_131050_with_a_bsuid_recipient(number):
    act(number, 131050, recipient="GB.13491208655302741918", wamid="w2")
    assert Contact.objects.get(bsuid="GB.13491208655302741918").states.get().status == "opted_out"


def test_131026_marks_the_contact_unreachable_for_the_presend_check(number):
    act(number, 131026)
    contact = Contact.objects.get(phone="+447911123456")
    assert contact.unreachable_at == NOW
    decision = presend_check(
        recipient="+447911123456", phone_number_id=ACME_PHONE, category="authentication"
    )
    assert [r.code for r in decision.reasons] == ["recipient_unreachable"]


def test_131056_backs_off_the_recipient_four_to_the_x_seconds(number):
    act(number, 131056, at=NOW)
    act(number, 131056, at=NOW + timedelta(seconds=2))
    contact = Contact.objects.get(phone="+447911123456")
    assert (contact.backoff_count, contact.backoff_until) == (2, NOW + timedelta(seconds=18))
    assert act(number, 131056, at=NOW + timedelta(seconds=2)) == []  # seen: no new step
    act(number, 131056, at=NOW + timedelta(hours=1))  # long after: starts again
    contact.refresh_from_db()
    assert contact.backoff_count == 1


@pytest.mark.parametrize(
    ("code", "held", "alerts"),
    [
        (130429, timedelta(minutes=1), 0),
        (131057, timedelta(minutes=2), 0),
        (131042, timedelta(hours=1), 1),
        (131031, timedelta(hours=1), 1),
        (368, timedelta(hours=1), 1),
        (131048, timedelta(hours=24), 1),
        (131064, timedelta(hours=24), 1),
    ],
)
def test_number_back_offs_and_their_alerts(number, code, held, alerts):
    act(number, code)
    act(number, code, wamid="again")  # the same day: one alert
    stored = PhoneNumber.objects.get(pk=number.pk)
    assert stored.backoff_until == NOW + held
    assert stored.backoff_reason.startswith(f"{code}: ")
    assert Alert.objects.count() == alerts


@pytest.mark.parametrize("code", [131053, 130497, 132000, 132005, 132007, 132012, 132015, 132016])
def test_codes_that_only_alert(number, code):
    assert act(number, code) == [f"alert {code}"]
    alert = Alert.objects.select_related("event").get()
    assert str(code) in alert.event.title
    assert ERROR_ACTIONS[code].client_should in alert.event.detail
    assert PhoneNumber.objects.get(pk=number.pk).backoff_until is None


def test_132001_queues_a_template_resync(number):
    assert act(number, 132001) == ["templates resync"]
    assert SyncRun.objects.count() == 1


@pytest.mark.parametrize("code", [131047, 131049, 130472, 131062, 131021, 131000])
def test_codes_with_nothing_to_store(number, code):
    assert act(number, code) == []
    assert Contact.objects.count() == 0
    assert Alert.objects.count() == 0


def test_unknown_codes_change_nothing(number):
    assert act(number, 4242) == []
    assert Contact.objects.count() == 0

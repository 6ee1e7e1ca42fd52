"""Opt-out keywords match after normalising (NFKC, casefold, emoji, punctuation and whitespace
stripped at both ends), per client policy and in every language the policy lists; near misses
do not opt out."""

import pytest
from django_tenants.utils import schema_context

from compliance.consent import messaging_policy_update
from compliance.keywords import is_opt_out, keyword_normalize, keyword_set
from compliance.models import ConsentState, MessagingPolicy
from tests.assets import ACME_PHONE
from tests.webhooks import apply_change

DEFAULT = keyword_set(["STOP", "UNSUBSCRIBE", "STOPP", "ARRET", "BAJA", "PARAR"])


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("STOP", "stop"),
        ("STOP ✋", "stop"),
        ("Stop.", "stop"),
        (" stop! ", "stop"),
        ("🛑stop🛑", "stop"),
        ("STOP 👍🏽", "stop"),  # an emoji with a skin-tone modifier
        ("stop\u200d\ufe0f", "stop"),  # zero-width joiner, variation selector
        ("\uff33\uff34\uff2f\uff30", "stop"),  # full-width letters (NFKC)
        ("STRAẞE", "strasse"),  # casefold, not lower
        ("«Stopp»", "stopp"),
        ("¡BAJA!", "baja"),
        ("Stop  all\tmessages", "stop all messages"),
        ("", ""),
        ("✋", ""),
    ],
)
def test_normalisation_table(text, normalised):
    assert keyword_normalize(text) == normalised


@pytest.mark.parametrize(
    ("text", "opts_out"),
    [
        ("STOP ✋", True),
        ("Stop.", True),
        (" stop! ", True),
        ("unsubscribe 🙏", True),
        ("Stopp!", True),
        ("ARRET.", True),
        ("stop by our shop on Friday", False),
        ("please stop", False),
        ("stopped", False),
        ("s t o p", False),
        ("nonstop", False),
    ],
)
def test_matching_and_near_misses(text, opts_out):
    assert is_opt_out(text, DEFAULT) is opts_out


def test_the_policy_s_keywords_are_normalised_the_same_way():
    assert keyword_set([" Stop! ", "NO MORE ✋", "", "\uff21\uff32\uff32\uff25\uff34"]) == {
        "stop",
        "no more",
        "arret",
    }
    assert keyword_set({"en": ["STOP"], "de": ["Stopp"], "es": ["Baja"]}) == {
        "stop",
        "stopp",
        "baja",
    }


def inbound(text: str, wamid: str) -> dict:
    return {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550100001", "phone_number_id": ACME_PHONE},
        "contacts": [{"profile": {"name": "Alice Archer"}, "wa_id": "447911123456"}],
        "messages": [
            {
                "from": "447911123456",
                "id": wamid,
                "timestamp": "1763000000",
                "type": "text",
                "text": {"body": text},
            }
        ],
    }


def marketing(client) -> str | None:
    with schema_context(client.schema_name):
        return (
            ConsentState.objects.filter(contact__phone="+447911123456", category="marketing")
            .values_list("status", flat=True)
            .first()
        )


def test_stop_with_an_emoji_opts_out_through_the_webhook(acme, globex, acme_number):
    apply_change(acme, "messages", inbound("stop by our shop on Friday", "wamid.1"), time=None)
    assert marketing(acme) is None

    apply_change(acme, "messages", inbound("STOP ✋", "wamid.2"), time=None)

    assert marketing(acme) == "opted_out"
    assert marketing(globex) is None  # another client's consent is untouched


def test_keywords_are_per_client_policy(acme, acme_number):
    with schema_context(acme.schema_name):
        messaging_policy_update(actor=None, opt_out_keywords=["Genug"])
        assert MessagingPolicy.current().keyword_set() == {"genug"}

    apply_change(acme, "messages", inbound("STOP", "wamid.1"), time=None)
    assert marketing(acme) is None
    apply_change(acme, "messages", inbound("Genug!", "wamid.2"), time=None)
    assert marketing(acme) == "opted_out"

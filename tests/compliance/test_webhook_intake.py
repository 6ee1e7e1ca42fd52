"""The webhook endpoint: verified on the raw bytes, stored once, answered fast."""

import pytest

from portal.meta.models import WebhookDelivery
from portal.meta.signatures import sign
from tests.webhooks import body_of, envelope, post

PAYLOAD = envelope("1110000001", "account_review_update", {"decision": "APPROVED"})


def test_valid_signature_is_accepted_and_the_raw_body_stored(web, db):
    body = body_of(PAYLOAD)

    response = post(web(None), body)

    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert bytes(delivery.body) == body
    assert delivery.processed_at is None


@pytest.mark.parametrize(
    "signature",
    [
        "sha256=" + "0" * 64,  # wrong
        "",  # missing
        "sha1=abc",  # wrong scheme
        sign(body_of(PAYLOAD), "another-app-secret"),  # signed with someone else's secret
    ],
    ids=["wrong", "missing", "wrong-scheme", "other-secret"],
)
def test_bad_signatures_are_refused_and_nothing_is_stored(web, db, signature):
    response = post(web(None), body_of(PAYLOAD), signature=signature)

    assert response.status_code == 401
    assert not WebhookDelivery.objects.exists()


def test_altered_body_is_refused(web, db):
    body = body_of(PAYLOAD)
    signature = sign(body, "test-app-secret")

    response = post(web(None), body.replace(b"APPROVED", b"REJECTED"), signature=signature)

    assert response.status_code == 401
    assert not WebhookDelivery.objects.exists()


def test_non_ascii_body_is_verified_on_its_raw_bytes(web, db):
    payload = envelope(
        "1110000001",
        "phone_number_name_update",
        {
            "display_phone_number": "+49 30 1234",
            "decision": "APPROVED",
            "requested_verified_name": "Café Müller 🍰",
        },
    )
    body = body_of(payload)
    assert not body.isascii()

    response = post(web(None), body)

    assert response.status_code == 200
    assert bytes(WebhookDelivery.objects.get().body) == body


def test_replayed_delivery_is_stored_once(web, db):
    body = body_of(PAYLOAD)
    http = web(None)

    statuses = [post(http, body).status_code for _ in range(3)]

    assert statuses == [200, 200, 200]
    assert WebhookDelivery.objects.count() == 1


def test_body_over_3_mb_is_413_and_not_stored(web, db):
    body = b'{"object":"whatsapp_business_account","entry":[],"pad":"' + b"x" * (3 * 1024 * 1024)
    body += b'"}'

    response = post(web(None), body)

    assert response.status_code == 413
    assert not WebhookDelivery.objects.exists()


def test_body_just_under_3_mb_is_accepted(web, db):
    pad = 3 * 1024 * 1024 - 200
    body = b'{"object":"whatsapp_business_account","entry":[],"pad":"' + b"x" * pad + b'"}'

    assert post(web(None), body).status_code == 200


def test_handshake_echoes_the_challenge_for_the_right_token(web, db):
    response = web(None).get(
        "/webhooks/meta",
        {
            "hub.mode": "subscribe",
            "hub.verify_token": "test-verify-token",
            "hub.challenge": "1158201444",
        },
    )

    assert response.status_code == 200
    assert response.content == b"1158201444"


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "test-verify-token", "hub.challenge": "1"},
        {},
    ],
)
def test_handshake_refuses_anything_else(web, db, params):
    assert web(None).get("/webhooks/meta", params).status_code == 403


def test_the_endpoint_exists_only_on_the_public_host(web, acme):
    response = post(web(acme), body_of(PAYLOAD))

    assert response.status_code in (302, 404)
    assert not WebhookDelivery.objects.exists()


def test_stored_credentials_replace_the_environment_secret(web, db):
    from portal.meta import credentials
    from portal.meta.models import CredentialKind

    credentials.clear_cache()
    credentials.credential_store(
        kind=CredentialKind.APP_SECRET, label="rotated", secret="rotated-secret"
    )
    credentials.clear_cache()
    body = body_of(PAYLOAD)

    assert post(web(None), body, secret="test-app-secret").status_code == 401
    assert post(web(None), body, secret="rotated-secret").status_code == 200
    credentials.clear_cache()


def test_credentials_are_encrypted_at_rest(db):
    from portal.meta import credentials
    from portal.meta.models import CredentialKind, MetaCredential

    credentials.credential_store(
        kind=CredentialKind.SYSTEM_USER_TOKEN, label="bsp", secret="EAAG-very-secret-token"
    )

    stored = bytes(MetaCredential.objects.get().ciphertext)
    assert b"EAAG-very-secret-token" not in stored
    credentials.clear_cache()
    assert credentials.system_user_token() == "EAAG-very-secret-token"
    credentials.clear_cache()


def test_a_database_outage_answers_503_never_500(web, db, monkeypatch):
    from django.db import OperationalError

    from portal.meta import services

    def down(**kwargs):
        raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")

    monkeypatch.setattr(services, "webhook_delivery_store", down)
    body = body_of(envelope("1110000001", "account_update", {"event": "X"}))

    response = post(web(), body)

    assert response.status_code == 503
    assert response["Retry-After"] == "5"


def test_the_answer_never_waits_on_a_hung_broker(
    web, db, monkeypatch, django_capture_on_commit_callbacks
):
    import threading
    import time

    from portal.meta import services
    from portal.meta.webhooks.wake import Waker

    hung = threading.Event()
    monkeypatch.setattr(services, "_waker", Waker(lambda: hung.wait(10)))
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        answers = [
            post(web(), body_of(envelope("1110000001", "account_update", {"n": n}))).status_code
            for n in range(5)
        ]
    elapsed = time.monotonic() - started
    hung.set()

    assert answers == [200] * 5
    assert WebhookDelivery.objects.count() == 5
    assert elapsed < 5  # a hung publish would hold each answer 10 s


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("other_workers_paused")  # the stored deliveries stay ours
def test_a_connection_the_server_dropped_is_replaced_and_the_delivery_stored(
    web, caplog, monkeypatch
):
    """The intake skips Django's health check: a dead connection is found by the INSERT itself,
    replaced, and the INSERT sent again."""
    from django.db import connection

    from portal.meta import services

    # Only the storing is under test: nothing drains these committed deliveries, and they are
    # gone before the session's workers resume (a drain racing the teardown's flush deadlocks).
    monkeypatch.setattr(services, "webhook_processor_wake", lambda: None)

    http = web(None)
    assert post(http, body_of(PAYLOAD)).status_code == 200  # the connection is now open
    connection.ensure_connection()
    backend_pid = connection.connection.info.backend_pid
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    with psycopg.connect(
        host=db["HOST"],
        port=db["PORT"] or 5432,
        user=db["USER"],
        dbname=db["NAME"],
        autocommit=True,
    ) as other:  # fmt: skip  (another session ends the one the intake holds)
        other.execute("SELECT pg_terminate_backend(%s)", [backend_pid])

    body = body_of(envelope("1110000001", "account_review_update", {"decision": "REJECTED"}))
    with caplog.at_level("INFO", logger="portal.meta.services"):
        response = post(http, body)

    assert response.status_code == 200
    assert "retrying on a new one" in caplog.text
    assert WebhookDelivery.objects.filter(body=body).count() == 1
    assert connection.connection.info.backend_pid != backend_pid
    WebhookDelivery.objects.all().delete()


def test_an_http_post_is_redirected_when_https_is_required(web, db, settings):
    settings.SECURE_SSL_REDIRECT = True

    response = post(web(None), body_of(PAYLOAD))

    assert response.status_code == 301
    assert response["Location"].startswith("https://")
    assert not WebhookDelivery.objects.exists()


def test_a_delivery_sets_no_session_or_csrf_cookie(web, db):
    response = post(web(None), body_of(PAYLOAD))

    assert response.status_code == 200
    assert not response.cookies
    assert "X-Request-ID" in response.headers  # the request id and access line still apply

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal.env import env_bool, env_int, env_list, env_str, parse_database_url


@pytest.mark.parametrize(
    ("raw", "expected"), [("1", True), ("TRUE", True), ("off", False), ("", False)]
)
def test_env_bool_reads_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("FLAG", raw)
    assert env_bool("FLAG", default=not expected) is expected


def test_env_bool_fails_loudly_on_nonsense(monkeypatch):
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="FLAG='maybe' is not a boolean"):
        env_bool("FLAG", default=False)


def test_env_int_checks_type_and_minimum(monkeypatch):
    monkeypatch.setenv("N", "ten")
    with pytest.raises(ImproperlyConfigured, match="N='ten' is not an integer"):
        env_int("N", 1)
    monkeypatch.setenv("N", "0")
    with pytest.raises(ImproperlyConfigured, match="below the minimum of 1"):
        env_int("N", 5, minimum=1)
    monkeypatch.setenv("N", "33")
    with pytest.raises(ImproperlyConfigured, match="N=33 is above the maximum of 32"):
        env_int("N", 4, minimum=1, maximum=32)
    monkeypatch.setenv("N", "32")
    assert env_int("N", 4, minimum=1, maximum=32) == 32
    monkeypatch.delenv("N")
    assert env_int("N", 5) == 5


def test_env_str_required_and_list(monkeypatch):
    monkeypatch.delenv("MISSING", raising=False)
    with pytest.raises(ImproperlyConfigured, match="MISSING is required"):
        env_str("MISSING")
    monkeypatch.setenv("HOSTS", " a.example, ,b.example ")
    assert env_list("HOSTS") == ["a.example", "b.example"]


def test_database_url_tcp_and_unix_socket_forms():
    tcp = parse_database_url("postgresql://app:p%40ss@db.internal:6432/portal?sslmode=require")
    assert tcp == {
        "NAME": "portal",
        "USER": "app",
        "PASSWORD": "p@ss",
        "HOST": "db.internal",
        "PORT": "6432",
        "OPTIONS": {"sslmode": "require"},
    }
    sock = parse_database_url("postgresql://postgres:@/portal?host=/work/.devdata/pg")
    assert (sock["HOST"], sock["PORT"], sock["OPTIONS"]) == ("/work/.devdata/pg", "", {})


@pytest.mark.parametrize(
    ("url", "message"),
    [("mysql://x@h/db", "must be a postgresql:// URL"), ("postgresql://x@h/", "names no database")],
)
def test_database_url_rejects_what_it_cannot_use(url, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        parse_database_url(url)


def test_empty_secret_key_fails_the_system_check(settings):
    from portal.apps import check_secret_key

    settings.SECRET_KEY = ""
    assert [e.id for e in check_secret_key(None)] == ["portal.E001"]


def test_tenant_models_reference_public_models_without_cascading(settings):
    from portal.apps import check_tenant_references

    assert check_tenant_references(None) == []


def test_a_cascading_tenant_to_public_reference_is_flagged(settings):
    from django.db import models

    from compliance.models import Alert
    from portal.apps import check_tenant_references

    field = Alert._meta.get_field("acknowledged_by")
    original = field.remote_field.on_delete
    field.remote_field.on_delete = models.SET_NULL
    try:
        errors = check_tenant_references(None)
    finally:
        field.remote_field.on_delete = original
    assert [e.id for e in errors] == ["portal.E002"]
    assert "compliance.Alert.acknowledged_by" in errors[0].msg

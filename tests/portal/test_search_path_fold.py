"""The session's `SET search_path` goes in the same message as the statement that needs it
(portal/postgresql_backend): one round trip per schema switch instead of two, every statement
still in its client's schema, whatever fails or bypasses the fold."""

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from compliance.models import Contact


@pytest.fixture
def two_clients(acme, globex):
    with schema_context(acme.schema_name):
        Contact.objects.create(phone="+14155550100", name="Acme's")
    with schema_context(globex.schema_name):
        Contact.objects.create(phone="+14155550199", name="Globex's")
    return acme, globex


def names() -> list[str]:
    return list(Contact.objects.values_list("name", flat=True))


def sent(cursor) -> str:
    """The text of the last message the psycopg cursor sent."""
    return cursor.__dict__["_raw_cursor"]._query.query.decode()


def test_the_set_travels_with_the_first_statement_of_a_schema(two_clients):
    acme, _globex = two_clients
    connection.set_tenant(acme)
    with CaptureQueriesContext(connection) as queries, connection.cursor() as cursor:
        cursor.execute("SELECT name FROM compliance_contact")
        assert cursor.fetchall() == [("Acme's",)]
        message = sent(cursor)
    assert message.startswith('SET search_path = "c_acme","public";\n')
    assert message.endswith("SELECT name FROM compliance_contact")
    # the log still has both statements, each as it is
    assert [q["sql"] for q in queries] == [
        'SET search_path = "c_acme","public"',
        "SELECT name FROM compliance_contact",
    ]


def test_switching_back_and_forth_reads_each_clients_rows(two_clients):
    acme, globex = two_clients
    for _ in range(3):
        with schema_context(acme.schema_name):
            assert names() == ["Acme's"]
        with schema_context(globex.schema_name):
            assert names() == ["Globex's"]


def test_a_failed_statement_sends_its_set_again_with_the_next(two_clients):
    acme, globex = two_clients
    with schema_context(acme.schema_name):
        assert names() == ["Acme's"]
    with schema_context(globex.schema_name):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT no_such_column FROM compliance_contact")
        # the savepoint's rollback took the SET with it; the next statement carries it again
        assert names() == ["Globex's"]


def test_the_same_cursor_after_a_failure_is_still_in_its_schema(two_clients):
    acme, globex = two_clients
    with schema_context(acme.schema_name):
        assert names() == ["Acme's"]
    with schema_context(globex.schema_name), connection.cursor() as cursor:
        with pytest.raises(DatabaseError), transaction.atomic():
            cursor.execute("SELECT 1/0 FROM compliance_contact")
        cursor.execute("SELECT name FROM compliance_contact")  # the same cursor, again
        assert cursor.fetchall() == [("Globex's",)]


def test_executemany_and_the_raw_cursor_get_the_set_first(two_clients):
    acme, globex = two_clients
    with schema_context(acme.schema_name):
        assert names() == ["Acme's"]
    with schema_context(globex.schema_name), connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO compliance_contact (phone, wa_id, name, created_at) "
            "VALUES (%s, '', %s, now())",
            [("+14155550111", "Globex 2")],
        )
        assert sorted(names()) == ["Globex 2", "Globex's"]
    with schema_context(acme.schema_name), connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor: the pending SET is sent before it is used
        raw.execute("SELECT name FROM compliance_contact")
        assert raw.fetchall() == [("Acme's",)]


def test_a_rollback_never_carries_the_set(two_clients):
    acme, globex = two_clients
    with schema_context(acme.schema_name):
        assert names() == ["Acme's"]
    with schema_context(globex.schema_name):
        sid = transaction.savepoint()
        connection.set_tenant(acme)  # a switch whose first statement is the rollback
        transaction.savepoint_rollback(sid)
        assert names() == ["Acme's"]

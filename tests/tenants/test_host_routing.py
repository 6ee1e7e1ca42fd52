import pytest


def test_public_host_serves_the_public_site(web):
    response = web(None).get("/auth/login/")

    assert response.status_code == 200
    assert b"Sign in</h1>" in response.content or b"Sign in\n" in response.content
    assert response.resolver_match.view_name == "login"


def test_client_host_serves_that_clients_portal(web, acme):
    response = web(acme).get("/auth/login/")

    assert response.status_code == 200
    assert "Sign in to Acme Retail" in response.content.decode()


def test_unknown_client_host_is_a_404(web, db):
    from django.test import Client as HttpClient

    response = HttpClient(HTTP_HOST="nosuchclient.localhost").get("/")

    assert response.status_code == 404


def test_template_schema_is_never_routed(web, db):
    from django.test import Client as HttpClient

    from tenants.models import Client, Domain

    template = Client.objects.get(is_template=True)
    assert not Domain.objects.filter(tenant=template).exists()
    response = HttpClient(HTTP_HOST="tenant-template.localhost").get("/auth/login/")
    assert response.status_code == 404


def test_host_outside_the_portal_domain_is_refused(db):
    from django.test import Client as HttpClient

    response = HttpClient(HTTP_HOST="evil.example.com").get("/")

    assert response.status_code in (400, 404)


@pytest.mark.parametrize("path", ["/staff/", "/admin/"])
def test_staff_console_and_admin_exist_only_on_the_public_host(web, acme, staff_super, path):
    assert web(acme, staff_super).get(path).status_code == 404

import pytest
from django.db import connection

from portal.meta.client import GraphClient
from portal.meta.simulator import SimulatorServer

TOKEN = "dev-system-user-token"


@pytest.fixture
def in_acme(acme, acme_waba):
    """The connection in acme's schema (back to public after the test)."""
    connection.set_tenant(acme)
    return acme


@pytest.fixture
def sim():
    with SimulatorServer("demo") as server:
        yield server


@pytest.fixture
def graph(sim):
    with GraphClient(token=TOKEN, base_url=sim.url, sleep=lambda seconds: None) as client:
        yield client


@pytest.fixture
def meta_at_sim(settings, sim):
    """The portal's Graph API client pointed at the simulator, with its token."""
    from portal.meta import credentials

    settings.META_GRAPH_URL = sim.url
    settings.META_SYSTEM_USER_TOKEN = TOKEN
    credentials.clear_cache()
    yield sim
    credentials.clear_cache()


def approve_and_send(*, template, actor, graph, comment="", client=None):
    """Approve, then send in this process what the task would send after the commit."""
    from templates_review import services

    services.template_approve(template=template, actor=actor, comment=comment, client=client)
    return services.template_send_to_meta(
        template=template, actor=actor, graph=graph, client=client
    )


def in_schema(client, fn):
    """`fn()` inside the client's schema."""
    from django_tenants.utils import schema_context

    with schema_context(client.schema_name):
        return fn()


def submit(client, user, **kwargs):
    """A template (factory fields in `kwargs`) submitted to the queue by `user` as an agent."""
    from templates_review import services
    from templates_review.services import Actor
    from tests.factories import MessageTemplateFactory

    def run():
        template = MessageTemplateFactory(**kwargs)
        return services.template_submit(
            template=template, actor=Actor(principal=user, role="agent"), client=client
        )

    return in_schema(client, run)

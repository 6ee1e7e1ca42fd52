from django_tenants.utils import schema_context

from appeals.models import AppealTicket
from tenants.demo import demo_seed
from tenants.models import Client, WorkItem, WorkKind


def test_the_demo_has_one_open_appeal_and_seeding_twice_adds_none(db):
    demo_seed(sync=False)
    demo_seed(sync=False)

    initech = Client.objects.get(slug="initech")
    with schema_context(initech.schema_name):
        assert list(AppealTicket.objects.values_list("status", flat=True)) == ["submitted"]
    assert WorkItem.objects.filter(kind=WorkKind.APPEAL, client=initech).count() == 1

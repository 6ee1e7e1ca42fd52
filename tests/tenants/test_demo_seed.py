from tenants.demo import DEMO_STAFF_EMAIL, demo_seed
from tenants.models import Client, Membership, User


def test_demo_seed_creates_staff_and_three_clients_and_is_idempotent(db):
    demo_seed(sync=False)
    counts = (Client.objects.count(), User.objects.count(), Membership.objects.count())

    demo_seed(sync=False)

    assert (Client.objects.count(), User.objects.count(), Membership.objects.count()) == counts
    assert set(
        Client.objects.filter(slug__in=["acme", "globex", "initech"]).values_list("slug", flat=True)
    ) == {"acme", "globex", "initech"}
    staff = User.objects.get(email=DEMO_STAFF_EMAIL)
    assert staff.is_staff
    assert staff.check_password("demo-pass")
    initech_owner = User.objects.get(email="owner@initech.example")
    assert initech_owner.check_password("demo-pass")
    assert Membership.objects.get(user=initech_owner).client.slug == "initech"


def test_demo_seed_links_each_clients_waba_and_queues_one_first_sync(db):
    from django_tenants.utils import schema_context

    from compliance.models import SyncRun, WhatsAppAccount
    from tenants.models import MetaAssetRoute

    demo_seed()
    demo_seed()  # a second run queues no second sync while the first is pending

    routes = dict(MetaAssetRoute.objects.filter(kind="waba").values_list("meta_id", "client__slug"))
    assert routes == {"1110000001": "acme", "1120000001": "globex", "1130000001": "initech"}
    initech = Client.objects.get(slug="initech")
    with schema_context(initech.schema_name):
        assert WhatsAppAccount.objects.get().meta_id == "1130000001"
        assert SyncRun.objects.count() == 1

from tenants.demo import DEMO_STAFF_EMAIL, demo_seed
from tenants.models import Client, Membership, User


def test_demo_seed_creates_staff_and_three_clients_and_is_idempotent(db):
    demo_seed()
    counts = (Client.objects.count(), User.objects.count(), Membership.objects.count())

    demo_seed()

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

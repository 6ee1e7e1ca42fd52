from django.db import migrations


def seed(apps, schema_editor):
    apps.get_model("migration_probe", "ProbeParent").objects.create(name="seeded")


class Migration(migrations.Migration):
    """Data written by a migration must reach clients through the clone too."""

    dependencies = [("migration_probe", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]

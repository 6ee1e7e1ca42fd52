from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scale_probe", "0002_col2")]
    operations = [
        migrations.AddField(
            model_name="scaleprobe",
            name="col3",
            field=models.CharField(max_length=50, null=True, db_index=True),
        ),
    ]

from django.db import models


class ScaleProbe(models.Model):
    """One small table per client; migrations 0002-0005 each add a nullable, indexed column."""

    note = models.CharField(max_length=50)
    col2 = models.CharField(max_length=50, null=True, db_index=True)
    col3 = models.CharField(max_length=50, null=True, db_index=True)
    col4 = models.CharField(max_length=50, null=True, db_index=True)
    col5 = models.CharField(max_length=50, null=True, db_index=True)

    def __str__(self) -> str:
        return self.note

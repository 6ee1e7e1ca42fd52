from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models.functions import Now


class ProbeParent(models.Model):
    name = models.CharField(max_length=50, unique=True, db_comment="A parent's unique name")

    class Meta:
        db_table_comment = "Parents of probe records"

    def __str__(self) -> str:
        return self.name


class ProbeRecord(models.Model):
    """Carries the kinds of schema objects real tenant models bring, for the clone checks."""

    note = models.CharField(max_length=50)
    parent = models.ForeignKey(ProbeParent, null=True, blank=True, on_delete=models.CASCADE)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,  # the rule for tenant → public references (portal.E002)
        db_constraint=False,
    )
    payload = models.JSONField(default=dict)
    amount = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("0"))
    created = models.DateTimeField(db_default=Now())
    doubled = models.GeneratedField(
        expression=models.F("amount") * 2,
        output_field=models.DecimalField(max_digits=12, decimal_places=2),
        db_persist=True,
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["parent", "note"], name="probe_parent_note_uniq"),
            models.CheckConstraint(
                condition=models.Q(amount__gte=0), name="probe_amount_non_negative"
            ),
        ]
        indexes = [
            models.Index(fields=["-created"], name="probe_created_idx"),
            models.Index(
                fields=["note"], condition=models.Q(amount__gt=0), name="probe_paid_note_idx"
            ),
        ]

    def __str__(self) -> str:
        return self.note

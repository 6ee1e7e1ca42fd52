from django.db import models


class ProbeRecord(models.Model):
    note = models.CharField(max_length=50)

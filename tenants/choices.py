from django.db import models


class ClientStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"


class ClientRole(models.TextChoices):
    """A client user's role inside one client (tenant)."""

    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    AGENT = "agent", "Agent"
    VIEWER = "viewer", "Viewer"


class StaffRole(models.TextChoices):
    """A BSP staff member's role across all clients."""

    ACCOUNT_MANAGER = "account_manager", "Account manager"
    TEMPLATE_REVIEWER = "template_reviewer", "Template reviewer"
    APPEALS_AGENT = "appeals_agent", "Appeals agent"
    SUPERUSER = "superuser", "Superuser"


class ApiScope(models.TextChoices):
    READ = "read", "Read"
    WRITE = "write", "Write"

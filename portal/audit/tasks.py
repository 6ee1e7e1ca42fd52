from portal.audit import services
from portal.celery import app


@app.task(name="portal.audit.tasks.audit_purge_expired")
def audit_purge_expired() -> int:
    return services.audit_purge_expired()

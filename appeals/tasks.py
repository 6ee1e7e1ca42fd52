from portal.celery import app


@app.task(name="appeals.tasks.sla_warnings_send")
def sla_warnings_send() -> int:
    """Beat: warn staff of appeals whose SLA is close to breach (one public query)."""
    from appeals.services import sla_warnings_send as send

    return send()

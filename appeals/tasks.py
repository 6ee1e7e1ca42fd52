from django.core.mail import send_mail

from portal.celery import app


@app.task(name="appeals.tasks.notice_send")
def notice_send(recipients: list[str], subject: str, body: str) -> int:
    """E-mail an appeal notice; the service built it (internal notes never reach it)."""
    return send_mail(subject=subject, message=body, from_email=None, recipient_list=recipients)


@app.task(name="appeals.tasks.sla_warnings_send")
def sla_warnings_send() -> int:
    """Beat: warn staff of appeals whose SLA is close to breach (one public query)."""
    from appeals.services import sla_warnings_send as send

    return send()

"""The template review queue's items, written in Python around the preview partial.

Each queue item was a `{% for %}` body of some sixty lookups, `{% if %}`s, filters, escapes and
two `{% csrf_token %}`s: a third of a millisecond an item, most of the page. The view now
writes each item's markup before and after its WhatsApp preview here, and the template only
includes the preview between them (`templates_review/partials/preview.html`, the one place the
preview's markup is written). The output is the loop's, byte for byte
(`tests/templates_review/test_staff_queue_rows.py` renders both and compares); the values
follow the template's rules (`tenants.staff_rows`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.template.defaultfilters import timesince_filter
from django.utils.safestring import SafeString, mark_safe

from portal.rows import MISSING, escape, key


@dataclass(frozen=True)
class QueueChrome:
    """What every item of a page shares: the reviewer's rights, the page's CSRF field and the
    reason picker; `kept` is a refused decision's typed reason, comment and errors."""

    can_review: bool
    csrf_input: str
    reason_options: str
    reasons: list[tuple[str, str]]
    comment_max: int
    kept: dict | None = None


def _finding(f: Any) -> str:
    get = f.get if isinstance(f, dict) else (lambda _name, _default=None: MISSING)
    severity = get("severity", MISSING)
    severity = "" if severity is MISSING else str(severity)
    capital = severity and severity[0].upper() + severity[1:]
    component = get("component", MISSING)
    where = f" · {escape(str(component).lower())}" if component is not MISSING and component else ""
    message = get("message", MISSING)
    message = "" if message is MISSING else escape(message)
    return (
        f'<li class="finding sev-{escape(severity)}"><strong>{escape(capital)}</strong>'
        f"{where}: {message}</li>"
    )


def _checks(d: dict) -> str:
    findings = d.get("findings")
    if not findings:
        return '<p class="ok-note">No problems found.</p>'
    items = "".join(_finding(f) for f in findings)
    total = d.get("findings_total")
    try:
        more = total > len(findings)
    except TypeError:
        more = False
    all_of = f'<p class="muted">{key(d, "findings_total")} findings in all</p>' if more else ""
    return f'\n      <ul class="findings">{items}</ul>\n      {all_of}\n      '


def _decision(item: Any, chrome: QueueChrome) -> str:
    """The request-changes / reject form of a submitted item."""
    kept, csrf = chrome.kept, chrome.csrf_input
    if kept and kept["slug"] == item.client.slug and kept["object_id"] == item.object_id:
        errors = "".join(f"<p>{escape(str(e))}</p>" for e in kept["errors"])
        options = "".join(
            f'<option value="{escape(value)}"{" selected" if value == kept["reason"] else ""}>'
            f"{escape(str(label))}</option>"
            for value, label in chrome.reasons
        )
        fields = f"""
      <div class="form-error" role="alert">{errors}</div>
      <label>Reason <select name="reason"><option value="">Choose a reason…</option>{options}</select></label>
      <label>Comment <textarea name="comment" rows="4" maxlength="{chrome.comment_max}">{escape(kept["comment"])}</textarea></label>
      """  # noqa: E501 - one line a field, as in the template
    else:
        fields = f"""
      <label>Reason <select name="reason">{chrome.reason_options}</select></label>
      <label>Comment <textarea name="comment" rows="2" maxlength="{chrome.comment_max}"></textarea></label>
      """  # noqa: E501
    return f"""
    <form method="post" action="{escape(item.request_changes_url)}" class="stack">
      {csrf}
      {fields}
      <small class="muted">Up to {chrome.comment_max} characters.</small>
      <div class="row"><button>Request changes</button> <button formaction="{escape(item.reject_url)}">Reject</button></div>
    </form>
    """  # noqa: E501


def _actions(item: Any, chrome: QueueChrome) -> str:
    if not chrome.can_review:
        return ""
    again = "Send to Meta again" if item.status == "approved" else "Approve and send to Meta"
    decision = _decision(item, chrome) if item.status == "submitted" else ""
    return f"""
  <div class="queue-actions row">
    <form method="post" action="{escape(item.approve_url)}">{chrome.csrf_input}<button class="primary">{again}</button></form>
    {decision}
  </div>
  """  # noqa: E501


def queue_item_parts(item: Any, chrome: QueueChrome) -> tuple[SafeString, SafeString]:
    """(the markup before the item's preview, the markup after it). The item needs the
    attributes the view sets: `waiting_since`, `diff_html` and the three action URLs."""
    d = item.data
    slug, title = escape(item.client.slug), escape(item.title)
    edit = " · edit of a template Meta has" if d.get("edit_of_meta_template") else ""
    if item.status == "approved" and not d.get("send_error"):
        badge = "Sending to Meta…"
    elif item.status == "approved":
        badge = "Approved, not at Meta"
    else:
        badge = "Submitted"
    refused = (
        f'<p class="message error">Meta refused it: {escape(d["send_error"])}</p>'
        if d.get("send_error")
        else ""
    )
    diff_from = d.get("diff_from")
    changes = f"Changes since approved r{escape(diff_from)}" if diff_from else "New template"
    before = f"""
<article class="card queue-item" id="queue-{slug}-{escape(item.object_id)}" aria-label="{title}">
  <header class="row">
    <div>
      <h2>{title} <span class="muted">r{key(d, "revision")}</span></h2>
      <p class="muted">{escape(item.client.name)} · {escape(item.subtitle)} · waiting {escape(timesince_filter(item.waiting_since))}{edit}</p>
    </div>
    <span class="badge">{badge}</span>
  </header>
  {refused}
  <div class="grid">
    <div>
      <h3>Preview</h3>
      """  # noqa: E501 - one line a line of the template
    after = f"""
    </div>
    <div>
      <h3>Checks</h3>
      {_checks(d)}
    </div>
    <div>
      <h3>{changes}</h3>
      <pre class="diff">{item.diff_html}</pre>
    </div>
  </div>
  {_actions(item, chrome)}
</article>
"""
    return mark_safe(before), mark_safe(after)  # noqa: S308 - every value is escaped above

"""The staff lists' table rows, written in Python: the markup their template loops wrote.

A row of Fleet health was a `{% for %}` body of some thirty variable lookups, filters and
escapes, about 0.25 ms a row: fifty rows were most of the page's time. Here each row is one
f-string. The output is the loop's, byte for byte (`tests/tenants/test_staff_rows.py` renders
both and compares), by the engine's rules in `portal.rows`: `escape` is autoescaping, a key
missing from a row's `data` renders as "" (the engine's `string_if_invalid`), a present None
as "None", and `default` replaces any falsy value.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from django.template.defaultfilters import filesizeformat, timesince_filter
from django.utils.safestring import SafeString, mark_safe

from portal.rows import MISSING, default, escape, join, key, local_date


def _ban_state(value: Any) -> str:
    if value is not MISSING and value and value != "none":
        return f'<span class="badge">{escape(value)}</span>'
    return default(None if value is MISSING else value, "—")


def _confirmed(moment: Any, seen: dict) -> str:
    """The "Last confirmed" cell; `seen` keeps it by moment for the page: a WABA's numbers are
    confirmed by the same sync, and `timesince` (translated, a few units) was a fifth of a row."""
    if not moment:
        return "—"
    cell = seen.get(moment)
    if cell is None:
        since = escape(timesince_filter(moment))
        cell = f'<time datetime="{local_date(moment, "c")}">{since} ago</time>'
        seen[moment] = cell
    return cell


_USAGE_SLOT = ""  # slot: the portfolio usage cell (another branch)


def fleet_rows_html(items: list) -> SafeString:
    """Fleet health's rows: each item needs `client`, `enter_url` and `last_confirmed` set by
    the view (as the template's loop read them)."""
    rows, confirmed = [], {}
    for item in items:
        d = item.data
        get = d.get
        number = quote(str(item.object_id))
        rows.append(
            f"""
  <tr role="row">
    <td role="cell" data-label="Client"><span>{escape(item.client.name)}<br><span class="muted">{default(get("waba_id"), "")}</span></span></td>
    <td role="cell" data-label="Number"><span><a href="{escape(item.enter_url)}?next=/numbers/{escape(number)}/"><strong>{escape(item.title)}</strong></a><br><span class="muted">{escape(item.subtitle)}</span></span></td>
    <td role="cell" data-label="Status"><span><span class="badge status-{escape(item.status)}">{escape(item.status)}</span></span></td>
    <td role="cell" data-label="Quality"><span><span class="badge quality-{key(d, "quality")}">{key(d, "quality")}</span></span></td>
    <td role="cell" data-label="Limit"><span>{default(get("messaging_limit"), "—")}</span></td>{_USAGE_SLOT}
    <td role="cell" data-label="Health" class="num"><span><span class="score band-{escape(item.band)}">{escape(item.sort_key)}</span></span></td>
    <td role="cell" data-label="Verification"><span>{default(get("verification"), "—")}</span></td>
    <td role="cell" data-label="Ban state"><span>{_ban_state(get("ban_state", MISSING))}</span></td>
    <td role="cell" data-label="Last confirmed"><span>{_confirmed(item.last_confirmed, confirmed)}</span></td>
    <td role="cell" data-label="Why" class="muted"><span>{join(get("reasons", MISSING))}</span></td>
  </tr>
  """  # noqa: E501 - one line a cell, as in the template
        )
    return mark_safe("".join(rows))  # noqa: S308 - every value is escaped above


def console_rows_html(clients: list) -> SafeString:
    """The staff console's client rows: each client needs `member_count` (the selector's) and
    `status_label`, `enter_url` and `link_waba_url` (set by the view)."""
    rows = []
    for client in clients:
        size = client.storage_bytes
        storage = "—" if size is None else escape(filesizeformat(size))
        created = local_date(client.created_at, "Y-m-d")
        rows.append(
            f"""
<tr>
  <td><strong>{escape(client.name)}</strong></td>
  <td><code>{escape(client.slug)}</code></td>
  <td><span class="badge {escape(client.status)}">{escape(client.status_label)}</span></td>
  <td class="num">{escape(client.member_count)}</td>
  <td class="num">{storage}</td>
  <td>{created}</td>
  <td><a href="{escape(client.enter_url)}">Enter</a> · <a href="{escape(client.link_waba_url)}">Link WABA</a></td>
</tr>
"""  # noqa: E501 - one line a cell, as in the template
        )
    return mark_safe("".join(rows))  # noqa: S308 - every value is escaped above

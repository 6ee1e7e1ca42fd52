"""Template fields: `message_template_status_update`, `message_template_quality_update`,
`message_template_components_update`, `template_category_update` (meta-platform §3, §4.7 to 4.9,
§10)."""

from __future__ import annotations

from dataclasses import dataclass, field

from portal.meta import types as meta
from portal.meta.webhooks.fields import _read as r

NAME_MAX = 512  # MessageTemplate.name
LANGUAGE_MAX = 15  # MessageTemplate.language
REASON_MAX = 60  # MessageTemplate.rejection_reason
TEXT_MAX = 4_000


@dataclass(frozen=True)
class TemplateRef:
    """Which template a change is about: Meta's id, else (name, language)."""

    meta_id: str | None
    name: str
    language: str  # en_US (Meta also writes en-US)
    category: meta.TemplateCategory = meta.TemplateCategory.UNKNOWN


@dataclass(frozen=True)
class TemplateStatusUpdate:
    template: TemplateRef
    status: meta.TemplateStatus
    raw_event: str
    reason: str | None = None  # None where Meta says "NONE"
    pause_title: meta.PauseTitle | None = None
    pause_description: str = ""
    rejection_info: dict = field(default_factory=dict)  # {"reason", "recommendation"}
    disable_date: str = ""
    raw: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class TemplateQualityUpdate:
    template: TemplateRef
    quality: meta.Quality
    previous: meta.Quality | None = None
    raw: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class TemplateCategoryUpdate:
    """Completed (`previous` → `new`) or impending (`correct` from `effective_unix`, 24 h on)."""

    template: TemplateRef
    new: meta.TemplateCategory
    previous: meta.TemplateCategory | None = None
    correct: meta.TemplateCategory | None = None
    effective_unix: int | None = None
    raw: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class TemplateButton:
    type: str
    text: str = ""
    url: str = ""
    phone_number: str = ""


@dataclass(frozen=True)
class TemplateComponentsUpdate:
    template: TemplateRef
    body: str = ""
    header: str = ""
    footer: str = ""
    buttons: tuple[TemplateButton, ...] = ()
    raw: dict = field(default_factory=dict, compare=False)


def _value(value) -> dict:
    value = r.as_obj(value, "value")
    r.check_tree(value)
    return value


def _template(value: dict) -> TemplateRef:
    meta_id = r.ident(value, "message_template_id", "value")
    name = r.text(value, "message_template_name", "value", max_len=NAME_MAX)
    language = r.text(value, "message_template_language", "value", max_len=LANGUAGE_MAX)
    if meta_id is None and not name:
        raise r.reject("value", "names no template (message_template_id or _name)")
    category, _ = r.token(value, "message_template_category", "value", meta.TemplateCategory)
    return TemplateRef(
        meta_id=meta_id, name=name, language=language.replace("-", "_"), category=category
    )


def parse_template_status_update(value) -> TemplateStatusUpdate | TemplateQualityUpdate:
    """A status event; Meta's own docs show quality payloads under this field too, so a value
    carrying `new_quality_score` is read as the quality update it is."""
    value = _value(value)
    if "new_quality_score" in value:
        return _quality(value)
    status, raw_event = r.token(value, "event", "value", meta.TemplateStatus, required=True)
    reason = meta.stated_reason(r.text(value, "reason", "value", max_len=REASON_MAX))
    other = r.obj(value, "other_info", "value") or {}
    title, raw_title = r.token(other, "title", "value.other_info", meta.PauseTitle)
    rejection = r.obj(value, "rejection_info", "value") or {}
    disable = r.obj(value, "disable_info", "value") or {}
    return TemplateStatusUpdate(
        template=_template(value),
        status=status,
        raw_event=raw_event,
        reason=reason,
        pause_title=title if raw_title else None,
        pause_description=r.text(other, "description", "value.other_info", max_len=TEXT_MAX),
        rejection_info={
            key: r.text(rejection, key, "value.rejection_info", max_len=TEXT_MAX)
            for key in ("reason", "recommendation")
            if rejection.get(key) is not None
        },
        disable_date=_date_text(disable),
        raw=value,
    )


def _date_text(disable: dict) -> str:
    date = disable.get("disable_date")
    if isinstance(date, int) and not isinstance(date, bool):
        return r.unix_time(disable, "disable_date", "value.disable_info").isoformat()
    return r.text(disable, "disable_date", "value.disable_info", max_len=64)


def parse_template_quality_update(value) -> TemplateQualityUpdate:
    return _quality(_value(value))


def _quality(value: dict) -> TemplateQualityUpdate:
    quality, _ = r.token(value, "new_quality_score", "value", meta.Quality, required=True)
    previous, raw_previous = r.token(value, "previous_quality_score", "value", meta.Quality)
    return TemplateQualityUpdate(
        template=_template(value),
        quality=quality,
        previous=previous if raw_previous else None,
        raw=value,
    )


def parse_template_category_update(value) -> TemplateCategoryUpdate:
    value = _value(value)
    new, _ = r.token(value, "new_category", "value", meta.TemplateCategory, required=True)
    previous, raw_previous = r.token(value, "previous_category", "value", meta.TemplateCategory)
    correct, raw_correct = r.token(value, "correct_category", "value", meta.TemplateCategory)
    effective = r.unix_time(value, "category_update_timestamp", "value")
    return TemplateCategoryUpdate(
        template=_template(value),
        new=new,
        previous=previous if raw_previous else None,
        correct=correct if raw_correct else None,
        effective_unix=int(effective.timestamp()) if effective else None,
        raw=value,
    )


def parse_template_components_update(value) -> TemplateComponentsUpdate:
    value = _value(value)
    buttons = []
    for index, item in enumerate(r.items(value, "message_template_buttons", "value")):
        path = f"value.message_template_buttons[{index}]"
        item = r.as_obj(item, path)
        buttons.append(
            TemplateButton(
                type=r.text(item, "message_template_button_type", path, max_len=40).upper(),
                text=r.text(item, "message_template_button_text", path, max_len=200),
                url=r.text(item, "message_template_button_url", path, max_len=2_000),
                phone_number=r.text(item, "message_template_button_phone_number", path, max_len=32),
            )
        )
    return TemplateComponentsUpdate(
        template=_template(value),
        body=r.text(value, "message_template_element", "value", max_len=TEXT_MAX),
        header=r.text(value, "message_template_title", "value", max_len=TEXT_MAX),
        footer=r.text(value, "message_template_footer", "value", max_len=TEXT_MAX),
        buttons=tuple(buttons),
        raw=value,
    )

"""Simulator template rules: review after a delay, creation checks, edit limits, deletion."""

import fnmatch
import re
from typing import Any

from portal.meta.simulator.common import (
    _NAME,
    _PARAM,
    _WORD,
    DAY,
    EDIT_WINDOWS,
    TEMPLATE_EDITABLE,
    _invalid,
    _not_found,
)


class TemplatesMixin:
    """Template review, validation, creation, edits and deletion; part of `Simulator`."""

    # --- templates: review, edit ------------------------------------------------------------

    def _schedule_review(self, template: dict) -> None:
        template["gen"] += 1
        self._schedule(
            self.now + self.review_delay,
            {"kind": "review", "template_id": template["id"], "gen": template["gen"]},
        )

    def _outcome_for(self, template: dict) -> dict:
        if template.get("review_outcome"):
            outcome = template["review_outcome"]
            return {"outcome": outcome} if isinstance(outcome, str) else dict(outcome)
        for rule in self.review_rules:
            if fnmatch.fnmatchcase(template["name"], rule.get("match", "*")):
                return dict(rule)
        return {"outcome": "APPROVED"}

    def _review(self, template: dict, outcome: dict | None) -> list[dict]:
        if template["status"] != "PENDING":
            return []
        decision = outcome or self._outcome_for(template)
        template["gen"] += 1
        if str(decision.get("outcome", "APPROVED")).upper() == "REJECTED":
            reason = str(decision.get("reason") or "INVALID_FORMAT")
            template["status"] = "REJECTED"
            template["rejected_reason"] = reason
            rejection_info = None
            if reason == "INVALID_FORMAT":
                rejection_info = {
                    "reason": "The template's parameters are not formatted correctly.",
                    "recommendation": "Check the braces and the order of the parameters.",
                }
            return [
                self._template_status_webhook(
                    template, "REJECTED", reason=reason, rejection_info=rejection_info
                )
            ]
        template["status"] = "APPROVED"
        template["rejected_reason"] = None
        if decision.get("category"):
            template["category"] = str(decision["category"])
        template["quality"] = "UNKNOWN"
        template["quality_date"] = int(self.now)
        return [self._template_status_webhook(template, "APPROVED", reason="NONE")]

    def _validate_components(
        self, components: Any, parameter_format: str, category: str = ""
    ) -> None:
        if not isinstance(components, list) or not components:
            raise _invalid(2388072, "Body is missing", "A template needs a BODY component.")
        body = None
        is_auth = category == "AUTHENTICATION"
        for component in components:
            if not isinstance(component, dict):
                raise _invalid(None, "Invalid components", "Each component must be an object.")
            kind = str(component.get("type", "")).upper()
            text = str(component.get("text") or "")
            if kind == "BODY" and is_auth and not text:
                # Meta writes an authentication template's body (its library text).
                body = "{{1}} is your verification code."
                continue
            if kind == "BODY":
                body = text
                if len(text) > 1024:
                    raise _invalid(2388040, "Body too long", "The body exceeds 1024 characters.")
            elif kind == "HEADER":
                fmt = str(component.get("format", "TEXT")).upper()
                if fmt not in ("TEXT", "IMAGE", "VIDEO", "GIF", "DOCUMENT", "LOCATION"):
                    raise _invalid(2388047, "Invalid header", f"Unknown header format {fmt}.")
                if fmt == "TEXT" and len(text) > 60:
                    raise _invalid(2388040, "Header too long", "The header exceeds 60 characters.")
                if fmt in ("IMAGE", "VIDEO", "GIF", "DOCUMENT"):
                    self._check_header_handle(component, fmt)
            elif kind == "FOOTER":
                if len(text) > 60:
                    raise _invalid(2388040, "Footer too long", "The footer exceeds 60 characters.")
                if _PARAM.search(text):
                    raise _invalid(2388073, "Invalid footer", "A footer cannot hold parameters.")
        if body is None or not body.strip():
            raise _invalid(2388072, "Body is missing", "A template needs a non-empty BODY.")
        params = _PARAM.findall(body)
        if body.count("{{") != body.count("}}") or len(params) != body.count("{{"):
            raise _invalid(2388072, "Invalid body", "The body has mismatched braces.")
        if is_auth:
            return  # Meta's own text: the placement and ratio rules are for authored bodies
        stripped = body.strip()
        if params and (_PARAM.match(stripped) or re.search(r"\{\{[^{}]*\}\}[.!?]?$", stripped)):
            raise _invalid(
                2388299,
                "Leading or trailing parameters not allowed",
                "The body may not start or end with a parameter.",
            )
        words = len(_WORD.findall(_PARAM.sub(" ", body)))
        if params and words < 2 * len(params):
            raise _invalid(
                2388293,
                "Parameters words ratio exceeds limit",
                "The body has too many parameters for its length.",
            )
        if (
            parameter_format == "positional"
            and params
            and params != [str(i) for i in range(1, len(params) + 1)]
        ):
            raise _invalid(2388072, "Invalid body", "Parameters must be {{1}}, {{2}}, ...")

    def _create_template(self, waba: dict, body: dict) -> dict:
        name = str(body.get("name") or "")
        language = str(body.get("language") or "")
        category = str(body.get("category") or "").upper()
        parameter_format = str(body.get("parameter_format") or "positional").lower()
        if not _NAME.match(name):
            raise _invalid(None, "Invalid name", "Names use lowercase letters, digits and _.")
        if not language:
            raise _invalid(None, "Missing language", "The template language is required.")
        if category not in ("MARKETING", "UTILITY", "AUTHENTICATION"):
            raise _invalid(None, "Invalid category", f"Unknown category {category!r}.")
        if parameter_format not in ("positional", "named"):
            raise _invalid(None, "Invalid parameter format", "positional or named.")
        self._validate_components(body.get("components"), parameter_format, category)
        existing = [self.templates[t] for t in waba["template_ids"]]
        if any(t["name"] == name and t["language"] == language for t in existing):
            raise _invalid(
                2388024,
                "Content in this language already exists",
                f"A template {name} in {language} already exists.",
            )
        if len(existing) >= self.template_limit:
            raise _invalid(
                2388019,
                "Message template limit exceeded",
                f"This WhatsApp Business Account has reached its limit of "
                f"{self.template_limit} message templates.",
            )
        template_id = str(990000000000000 + next(self._new_ids))
        template = self._load_template(
            waba,
            {
                "id": template_id,
                "name": name,
                "language": language,
                "category": category,
                "status": "PENDING",
                "quality": "UNKNOWN",
                "parameter_format": parameter_format,
                "components": body.get("components"),
                "created_by_api": True,
            },
        )
        return {"id": template["id"], "status": "PENDING", "category": category}

    def _edit_template(self, template: dict, body: dict) -> dict:
        status = template["status"]
        if status not in TEMPLATE_EDITABLE:
            raise _invalid(
                2388039,
                "Message template status can't be changed",
                f"A template in status {status} cannot be edited; only APPROVED, REJECTED and "
                "PAUSED templates can.",
            )
        if status == "APPROVED":
            category = body.get("category")
            if category and str(category).upper() != template["category"]:
                raise _invalid(
                    2388039,
                    "Message template status can't be changed",
                    "The category of an approved template cannot be edited.",
                )
            edits = [t for t in template["edit_times"] if t > self.now - 30 * DAY]
            for window, limit in EDIT_WINDOWS:
                if sum(1 for t in edits if t > self.now - window) >= limit:
                    period = "24 hours" if window == DAY else "30 days"
                    raise _invalid(
                        2388039,
                        "Message template status can't be changed",
                        f"An approved template can be edited {limit} time(s) per {period}; "
                        "this limit was reached.",
                    )
        if "components" in body:
            self._validate_components(
                body["components"], template["parameter_format"], template["category"]
            )
            template["components"] = body["components"]
        if body.get("category"):
            template["category"] = str(body["category"]).upper()
        if status == "APPROVED":
            template["edit_times"] = [
                t for t in template["edit_times"] if t > self.now - 30 * DAY
            ] + [self.now]
        template["status"] = "PENDING"
        template["rejected_reason"] = None
        template.pop("paused_until", None)
        self._schedule_review(template)
        return {"success": True}

    def _delete_templates(self, waba: dict, query: dict) -> tuple[dict, list[dict]]:
        name = query.get("name")
        if not name:
            raise _invalid(None, "Missing name", "The name parameter is required.")
        hsm_id = query.get("hsm_id")
        targets = [
            self.templates[t]
            for t in waba["template_ids"]
            if self.templates[t]["name"] == name and (not hsm_id or t == hsm_id)
        ]
        if not targets:
            raise _not_found(hsm_id or name)
        if any(t["status"] == "DISABLED" for t in targets):
            raise _invalid(
                2388039,
                "Message template status can't be changed",
                "Disabled templates cannot be deleted.",
            )
        produced = []
        for template in targets:
            template["gen"] += 1
            del self.templates[template["id"]]
            waba["template_ids"].remove(template["id"])
            template["status"] = "DELETED"
            produced.append(self._template_status_webhook(template, "DELETED", reason=None))
        return {"success": True}, produced

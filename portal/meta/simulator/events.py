"""Simulator events (see the package docstring): state changes and the webhooks they cause."""

import base64
from typing import Any

from portal.meta.simulator import payloads
from portal.meta.simulator.common import (
    _LIMIT_ORDER,
    DAY,
    FIRST_PAUSE_SECONDS,
    HOUR,
    SECOND_PAUSE_SECONDS,
    _date_text,
    _iso_date,
)


class EventsMixin:
    """`apply()` and one `_event_<type>` handler per event type; part of `Simulator`."""

    # --- events ----------------------------------------------------------------------------

    def apply(self, event: dict) -> list[dict]:
        """Apply one event now (see the package docstring); the webhooks it produced."""
        with self.lock:
            event = dict(event)
            at = event.pop("at", None)
            if at is not None:
                self._schedule(self.start_time + float(at), {"kind": "event", "event": event})
                return []
            return self._apply(event)

    def _apply(self, event: dict) -> list[dict]:
        kind = event.get("type")
        handler = getattr(self, f"_event_{kind}", None)
        if handler is None:
            raise ValueError(f"unknown event type {kind!r}")
        return handler(event)

    def _waba_of(self, event: dict) -> dict:
        waba_id = str(event.get("waba_id", ""))
        if waba_id not in self.wabas:
            raise ValueError(f"unknown WABA {waba_id!r}")
        return self.wabas[waba_id]

    def _number_of(self, event: dict) -> dict:
        number_id = str(event.get("phone_number_id", ""))
        if number_id not in self.numbers:
            raise ValueError(f"unknown phone number {number_id!r}")
        return self.numbers[number_id]

    def _template_of(self, event: dict) -> dict:
        template_id = str(event.get("template_id", ""))
        if template_id not in self.templates:
            raise ValueError(f"unknown template {template_id!r}")
        return self.templates[template_id]

    def _event_number_quality(self, event: dict) -> list[dict]:
        number = self._number_of(event)
        quality = str(event["quality"])
        previous = number["quality_rating"]
        number["quality_rating"] = quality
        if quality == "RED" and number["status"] == "CONNECTED":
            number["status"] = "FLAGGED"
        elif quality != "RED" and number["status"] == "FLAGGED":
            number["status"] = "CONNECTED"
        if not event.get("legacy") or (quality == "RED") == (previous == "RED"):
            return []  # Meta's current docs send no quality webhook for numbers
        return [
            self._emit(
                payloads.phone_number_quality_update_legacy(
                    number["waba_id"],
                    number["display_phone_number"],
                    event="FLAGGED" if quality == "RED" else "UNFLAGGED",
                    current_limit=str(number["whatsapp_business_manager_messaging_limit"]),
                    time=self.now,
                )
            )
        ]

    def _event_number_status(self, event: dict) -> list[dict]:
        self._number_of(event)["status"] = str(event["status"])
        return []

    def _event_messaging_limit(self, event: dict) -> list[dict]:
        if event.get("phone_number_id"):
            numbers = [self._number_of(event)]
        else:
            waba = self._waba_of(event)
            numbers = [self.numbers[n] for n in waba["number_ids"]]
        limit = str(event["limit"])
        produced = []
        for number in numbers:
            old = str(number.get("whatsapp_business_manager_messaging_limit") or "TIER_NOT_SET")
            number["whatsapp_business_manager_messaging_limit"] = limit
            number["messaging_limit_tier"] = limit
            rank = {t: i for i, t in enumerate(_LIMIT_ORDER)}
            name = event.get("event") or (
                "UPGRADE" if rank.get(limit, 0) >= rank.get(old, 0) else "DOWNGRADE"
            )
            if event.get("legacy"):
                envelope = payloads.phone_number_quality_update_legacy(
                    number["waba_id"],
                    number["display_phone_number"],
                    event=name,
                    current_limit=limit,
                    time=self.now,
                )
            else:
                envelope = payloads.phone_number_quality_update(
                    number["waba_id"],
                    number["display_phone_number"],
                    event=name,
                    max_daily_conversations_per_business=limit,
                    time=self.now,
                )
            produced.append(self._emit(envelope))
        return produced

    def _event_name_update(self, event: dict) -> list[dict]:
        number = self._number_of(event)
        decision = str(event["decision"])
        name = str(event.get("requested_verified_name") or number["verified_name"])
        if decision == "APPROVED":
            number["verified_name"] = name
            number["name_status"] = "APPROVED"
            number.pop("new_display_name", None)
            number.pop("new_name_status", None)
        else:
            number["new_display_name"] = name
            number["new_name_status"] = "DECLINED" if decision == "REJECTED" else "PENDING_REVIEW"
        return [
            self._emit(
                payloads.phone_number_name_update(
                    number["waba_id"],
                    number["display_phone_number"],
                    decision=decision,
                    requested_verified_name=name,
                    rejection_reason=event.get("rejection_reason"),
                    time=self.now,
                )
            )
        ]

    def _event_account_restriction(self, event: dict) -> list[dict]:
        waba = self._waba_of(event)
        types = event.get("restriction_types") or [
            event.get("restriction_type", "RESTRICTED_BIZ_INITIATED_MESSAGING")
        ]
        if "expiration" in event:
            expiration = int(event["expiration"])
        else:
            seconds = float(event.get("seconds", float(event.get("days", 1)) * DAY))
            expiration = int(self.now + seconds)
        items = []
        for restriction_type in types:
            item = {"restriction_type": str(restriction_type), "expiration": expiration}
            if event.get("remediation"):
                item["remediation"] = event["remediation"]
            items.append(item)
            waba["restrictions"] = [
                r for r in waba["restrictions"] if r["restriction_type"] != restriction_type
            ] + [dict(item)]
        self._schedule(float(expiration), {"kind": "restriction_expiry", "waba_id": waba["id"]})
        return [self._emit(payloads.account_update_restriction(waba["id"], items, time=self.now))]

    def _event_account_violation(self, event: dict) -> list[dict]:
        waba = self._waba_of(event)
        violation_type = str(event.get("violation_type", "SPAM"))
        waba["violations"].append({"violation_type": violation_type, "at": int(self.now)})
        return [
            self._emit(payloads.account_update_violation(waba["id"], violation_type, time=self.now))
        ]

    def _event_ban(self, event: dict) -> list[dict]:
        waba = self._waba_of(event)
        state = str(event["state"])
        default_date = self.now + (30 * DAY if state == "SCHEDULE_FOR_DISABLE" else 0)
        ban_date = str(event.get("date") or _date_text(default_date))
        waba["ban_state"] = state
        waba["ban_date"] = ban_date
        as_list = bool(event.get("as_list"))
        return [
            self._emit(
                payloads.account_update_ban(
                    waba["id"], state, ban_date, time=self.now, as_list=as_list
                )
            )
        ]

    def _event_account_update(self, event: dict) -> list[dict]:
        """Any other `account_update` event, e.g. {"event": "PARTNER_REMOVED", ...extras}."""
        waba = self._waba_of(event)
        extra = {k: v for k, v in event.items() if k not in ("type", "waba_id", "event")}
        return [
            self._emit(payloads.account_update(waba["id"], event["event"], time=self.now, **extra))
        ]

    def _event_account_review(self, event: dict) -> list[dict]:
        waba = self._waba_of(event)
        waba["account_review_status"] = str(event["decision"])
        return [
            self._emit(
                payloads.account_review_update(waba["id"], str(event["decision"]), time=self.now)
            )
        ]

    def _event_business_capability(self, event: dict) -> list[dict]:
        waba = self._waba_of(event)
        limit = event.get("max_daily_conversations_per_business")
        if limit:
            for number_id in waba["number_ids"]:
                self.numbers[number_id]["whatsapp_business_manager_messaging_limit"] = limit
                self.numbers[number_id]["messaging_limit_tier"] = limit
        return [
            self._emit(
                payloads.business_capability_update(
                    waba["id"],
                    max_daily_conversations_per_business=limit,
                    max_daily_conversation_per_phone=event.get("max_daily_conversation_per_phone"),
                    max_phone_numbers_per_business=event.get("max_phone_numbers_per_business"),
                    max_phone_numbers_per_waba=event.get("max_phone_numbers_per_waba"),
                    time=self.now,
                )
            )
        ]

    def _event_account_alert(self, event: dict) -> list[dict]:
        waba = self._waba_of(event)
        return [
            self._emit(
                payloads.account_alerts(
                    waba["id"],
                    entity_type=str(event.get("entity_type", "BUSINESS")),
                    entity_id=str(event.get("entity_id") or waba["business_id"]),
                    alert_type=str(event["alert_type"]),
                    alert_severity=str(event.get("alert_severity", "WARNING")),
                    alert_status=str(event.get("alert_status", "ACTIVE")),
                    alert_description=str(event.get("alert_description", "")),
                    time=self.now,
                )
            )
        ]

    def _template_status_webhook(self, template: dict, event: str, **kwargs: Any) -> dict:
        return self._emit(
            payloads.message_template_status_update(
                template["waba_id"],
                template_id=template["id"],
                name=template["name"],
                language=template["language"],
                event=event,
                category=template["category"],
                time=self.now,
                **kwargs,
            )
        )

    def _event_template_quality(self, event: dict) -> list[dict]:
        template = self._template_of(event)
        quality = str(event["quality"])
        produced = []
        previous = template["quality"]
        if quality != previous:
            template["quality"] = quality
            template["quality_date"] = int(self.now)
            produced.append(
                self._emit(
                    payloads.message_template_quality_update(
                        template["waba_id"],
                        template_id=template["id"],
                        name=template["name"],
                        language=template["language"],
                        previous_quality_score=str(previous),
                        new_quality_score=quality,
                        time=self.now,
                    )
                )
            )
        if quality == "RED" and template["status"] == "APPROVED":
            produced.extend(self._pause(template))
        return produced

    def _pause(self, template: dict) -> list[dict]:
        """RED: first pause 3 h, second 6 h, third time disabled (meta-platform.md §3.3)."""
        template["pause_count"] += 1
        template["gen"] += 1
        count = template["pause_count"]
        if count >= 3:
            template["status"] = "DISABLED"
            return [
                self._template_status_webhook(
                    template,
                    "DISABLED",
                    reason="NONE",
                    other_info_title="DISABLED",
                    other_info_description="Your message template has been disabled because "
                    "it was paused repeatedly for low quality.",
                    disable_date=_iso_date(self.now),
                )
            ]
        seconds = FIRST_PAUSE_SECONDS if count == 1 else SECOND_PAUSE_SECONDS
        template["status"] = "PAUSED"
        template["paused_until"] = int(self.now + seconds)
        self._schedule(
            self.now + seconds,
            {"kind": "unpause", "template_id": template["id"], "gen": template["gen"]},
        )
        title = "FIRST_PAUSE" if count == 1 else "SECOND_PAUSE"
        hours = int(seconds // HOUR)
        return [
            self._template_status_webhook(
                template,
                "PAUSED",
                reason="NONE",
                other_info_title=title,
                other_info_description=f"Your message template has been paused for {hours} "
                "hours because of low quality.",
            )
        ]

    def _unpause(self, template: dict, *, manual: bool) -> list[dict]:
        template["gen"] += 1
        template["status"] = "APPROVED"
        template.pop("paused_until", None)
        description = (
            "Your message template was unpaused."
            if manual
            else "Your message template's pause period ended and it is active again."
        )
        return [
            self._template_status_webhook(
                template,
                "APPROVED",
                reason="NONE",
                other_info_title="UNPAUSE",
                other_info_description=description,
            )
        ]

    def _event_template_review(self, event: dict) -> list[dict]:
        """Decide a PENDING template now: {"outcome": "APPROVED"|"REJECTED", "reason": ...}."""
        template = self._template_of(event)
        outcome = {k: event[k] for k in ("outcome", "reason", "category") if k in event}
        return self._review(template, outcome or None)

    def _event_template_status(self, event: dict) -> list[dict]:
        """Set any status (DISABLED, IN_APPEAL, LOCKED, ...) and send its status webhook."""
        template = self._template_of(event)
        template["gen"] += 1
        template["status"] = str(event["status"])
        return [
            self._template_status_webhook(
                template,
                str(event.get("event") or event["status"]),
                reason=event.get("reason", "NONE"),
                other_info_title=event.get("title"),
                other_info_description=event.get("description"),
            )
        ]

    def _event_template_category(self, event: dict) -> list[dict]:
        """{"correct_category": "MARKETING", "impending": true} announces a change 24 h later
        (and schedules it); impending false (default) changes the category now."""
        template = self._template_of(event)
        correct = str(event["correct_category"])
        if event.get("impending"):
            when = int(self.now + DAY)
            self._schedule(
                float(when),
                {
                    "kind": "event",
                    "event": {
                        "type": "template_category",
                        "template_id": template["id"],
                        "correct_category": correct,
                    },
                },
            )
            return [
                self._emit(
                    payloads.template_category_update_impending(
                        template["waba_id"],
                        template_id=template["id"],
                        name=template["name"],
                        language=template["language"],
                        current_category=template["category"],
                        correct_category=correct,
                        category_update_timestamp=when,
                        time=self.now,
                    )
                )
            ]
        previous = template["category"]
        template["category"] = correct
        return [
            self._emit(
                payloads.template_category_update_completed(
                    template["waba_id"],
                    template_id=template["id"],
                    name=template["name"],
                    language=template["language"],
                    previous_category=previous,
                    new_category=correct,
                    time=self.now,
                )
            )
        ]

    def _next_wamid(self) -> str:
        raw = f"sim.{int(self.now)}.{next(self._wamid)}".encode()
        return "wamid." + base64.b64encode(raw).decode()

    def _event_message_status(self, event: dict) -> list[dict]:
        """{"phone_number_id", "status": sent|delivered|read|failed, "recipient_id",
        "category": marketing|utility|..., "error_codes": [131049], "wamid",
        "recipient_user_id": "US.…" (the BSUID), "username"}; `"recipient_id": null` for a
        message sent to a BSUID (Meta then omits it)."""
        number = self._number_of(event)
        status = str(event.get("status", "delivered"))
        codes = event.get("error_codes")
        if codes is None and event.get("error_code") is not None:
            codes = [event["error_code"]]
        recipient = event.get("recipient_id", "15550009999")
        return [
            self._emit(
                payloads.messages_status(
                    number["waba_id"],
                    phone_number_id=number["id"],
                    display_phone_number=number["display_phone_number"],
                    wamid=str(event.get("wamid") or self._next_wamid()),
                    status=status,
                    recipient_id=None if recipient is None else str(recipient),
                    timestamp=self.now,
                    category=event.get("category", "utility" if status != "failed" else None),
                    pricing_model=str(event.get("pricing_model", "PMP")),
                    pricing_type=str(event.get("pricing_type", "regular")),
                    error_codes=[int(c) for c in codes or ()],
                    recipient_user_id=event.get("recipient_user_id"),
                    recipient_parent_user_id=event.get("recipient_parent_user_id"),
                    username=event.get("username"),
                )
            )
        ]

    def _event_message_burst(self, event: dict) -> list[dict]:
        """{"phone_number_id", "count": 220, "category": "marketing", "status": "sent",
        "first_recipient": 447700900000, "error_code": null}: `count` statuses to as many
        recipients in one delivery (Meta batches up to 1,000), e.g. a campaign that uses most
        of a portfolio's messaging limit."""
        number = self._number_of(event)
        count = min(int(event.get("count", 100)), 1000)
        first = int(event.get("first_recipient", 447700900000))
        status = str(event.get("status", "sent"))
        code = event.get("error_code")
        items = [
            payloads.status_item(
                wamid=self._next_wamid(),
                status=status,
                recipient_id=str(first + n),
                timestamp=self.now,
                category=event.get("category", "marketing") if status != "failed" else None,
                error_codes=[int(code)] if code else None,
            )
            for n in range(count)
        ]
        return [
            self._emit(
                payloads.messages_statuses(
                    number["waba_id"],
                    phone_number_id=number["id"],
                    display_phone_number=number["display_phone_number"],
                    items=items,
                )
            )
        ]

    def _event_inbound_message(self, event: dict) -> list[dict]:
        """{"phone_number_id", "from": "<wa_id>", "text": "STOP", "name": "Ana",
        "user_id": "US.…", "username": "ana"}; `"from": null` leaves the phone out (a user
        known by username, meta-platform §7)."""
        number = self._number_of(event)
        sender = event.get("from", "15550009999")
        return [
            self._emit(
                payloads.messages_inbound_text(
                    number["waba_id"],
                    phone_number_id=number["id"],
                    display_phone_number=number["display_phone_number"],
                    from_wa_id=None if sender is None else str(sender),
                    text=str(event.get("text", "STOP")),
                    wamid=str(event.get("wamid") or self._next_wamid()),
                    profile_name=str(event.get("name", "")),
                    timestamp=self.now,
                    from_user_id=event.get("user_id"),
                    from_parent_user_id=event.get("parent_user_id"),
                    username=event.get("username"),
                )
            )
        ]

    def _event_user_id_change(self, event: dict) -> list[dict]:
        """{"phone_number_id", "previous_user_id", "user_id", "wa_id": new phone or null}."""
        number = self._number_of(event)
        return [
            self._emit(
                payloads.messages_user_id_change(
                    number["waba_id"],
                    phone_number_id=number["id"],
                    display_phone_number=number["display_phone_number"],
                    wamid=self._next_wamid(),
                    previous_user_id=str(event["previous_user_id"]),
                    user_id=str(event["user_id"]),
                    wa_id=event.get("wa_id"),
                    timestamp=self.now,
                )
            )
        ]

    def _event_template_pacing(self, event: dict) -> list[dict]:
        """Template pacing (meta-platform §10): {"template_id", "outcome": "pause"|"release",
        "held": 12, "phone_number_id"}. A pause is PAUSED with `other_info.title`
        RATE_LIMITING_PAUSE and no end (only `POST /unpause` ends it); with a number, each held
        message fails with 132015. A release sends nothing (held messages simply go out)."""
        template = self._template_of(event)
        if str(event.get("outcome", "pause")) != "pause":
            template["held"] = 0
            return []
        template["gen"] += 1
        template["status"] = "PAUSED"
        template.pop("paused_until", None)
        produced = [
            self._template_status_webhook(
                template,
                "PAUSED",
                reason="NONE",
                other_info_title="RATE_LIMITING_PAUSE",
                other_info_description="Your message template has been paused because early "
                "feedback on it was poor (template pacing). Unpause it when it is improved.",
            )
        ]
        held = int(event.get("held", 0))
        if held and event.get("phone_number_id"):
            number = self._number_of(event)
            produced.append(
                self._emit(
                    payloads.messages_statuses(
                        number["waba_id"],
                        phone_number_id=number["id"],
                        display_phone_number=number["display_phone_number"],
                        items=[
                            payloads.status_item(
                                wamid=self._next_wamid(),
                                status="failed",
                                recipient_id=str(447700800000 + n),
                                timestamp=self.now,
                                error_codes=[132015],
                            )
                            for n in range(min(held, 1000))
                        ],
                    )
                )
            )
        return produced

    def _event_webhook(self, event: dict) -> list[dict]:
        """A raw change: {"waba_id", "field", "value"} wrapped in the envelope."""
        waba_id = str(event["waba_id"])
        if event["field"] == "messages":
            return [self._emit(payloads.messages_envelope(waba_id, event["value"]))]
        return [
            self._emit(payloads.envelope(waba_id, event["field"], event["value"], time=self.now))
        ]

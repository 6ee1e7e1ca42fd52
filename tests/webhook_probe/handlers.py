from __future__ import annotations

import os
import time

from portal.meta.webhooks.contract import Applied, Change, WebhookRejected, register

FIELD = "probe_effect"


def parse(value: dict) -> dict:
    if not isinstance(value.get("n"), int):
        raise WebhookRejected("probe_effect needs an integer n.")
    return value


def apply(change: Change) -> Applied:
    value = change.data
    path = os.environ.get("TEST_WEBHOOK_EFFECT_LOG")
    if path:
        with open(path, "a") as log:
            log.write(f"{value['n']}\n")
    if value.get("sleep"):
        time.sleep(value["sleep"])
    if value.get("fail"):
        raise RuntimeError(value["fail"])
    return Applied()


def register_probe() -> None:
    register(FIELD, parser=parse, applier=apply)

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
    if value.get("slow"):  # only where the test asks for it (a worker it will kill)
        time.sleep(float(os.environ.get("TEST_WEBHOOK_PROBE_SLEEP") or 0))
    if value.get("fail"):
        raise RuntimeError(value["fail"])
    return Applied()


def register_probe() -> None:
    register(FIELD, parser=parse, applier=apply)

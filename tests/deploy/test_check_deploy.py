"""`manage.py check --deploy` under the production environment of deploy/env.example."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def production_env(**overrides: str) -> dict[str, str]:
    """deploy/env.example's values with a real secret key, and nothing from this test run."""
    env = {"PATH": os.environ.get("PATH", ""), "LOG_LEVEL": "WARNING"}
    for line in (ROOT / "deploy" / "env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            env[name.strip()] = value.strip()
    env["SECRET_KEY"] = secrets.token_urlsafe(50)
    env.update(overrides)
    return env


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_environment_passes_check_deploy_with_no_warnings():
    result = check_deploy(production_env())

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_catches_insecure_cookies_and_missing_hsts():
    """The same check fails when the environment weakens the settings (it is not a no-op)."""
    result = check_deploy(production_env(SECURE_COOKIES="false", SECURE_HSTS_SECONDS="0"))

    assert result.returncode == 1
    for check_id in ("security.W004", "security.W012", "security.W016"):
        assert check_id in result.stderr

"""The apps' import directions: templates_review builds on compliance (accounts, events), so
compliance never imports templates_review (the sync's template reconciliation and the template
webhook appliers are registered from `TemplatesReviewConfig.ready()`); Meta's raw payloads are
read only in `portal/meta/`."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# compliance/presend.py reads templates inside a function; it belongs to the pre-send work and
# is the last import of templates_review left in compliance.
KNOWN = {"compliance/presend.py"}


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    return modules


def test_compliance_never_imports_templates_review():
    offenders = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "compliance").rglob("*.py")
        if "migrations" not in path.parts
        and str(path.relative_to(ROOT)) not in KNOWN
        and any(m.split(".")[0] == "templates_review" for m in imported_modules(path))
    )

    assert offenders == []


def test_the_webhook_appliers_read_no_raw_meta_payloads():
    for path in [
        *(ROOT / "compliance" / "appliers").glob("*.py"),
        ROOT / "templates_review" / "meta_sync.py",
    ]:
        source = path.read_text()
        assert "value.get(" not in source, path
        assert ".raw.get(" not in source, path

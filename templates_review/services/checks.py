"""The one rule that decides whether a template may be submitted: lint errors block it;
warnings need the author's explicit "I have read this". The editor, the detail page's submit
and anything else that submits call `template_submission_check` before `template_submit`."""

from __future__ import annotations

from dataclasses import dataclass

from templates_review.linter import Finding, Severity, lint_template
from templates_review.models import MessageTemplate, TemplateRevision
from templates_review.services.common import TransitionNotAllowed, _latest_revision


@dataclass(frozen=True)
class LintResult:
    findings: list[Finding]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == Severity.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == Severity.WARNING]


class SubmissionBlocked(TransitionNotAllowed):
    """Lint errors, or warnings not acknowledged; `str()` says which, in plain words."""

    def __init__(self, message: str, result: LintResult) -> None:
        super().__init__(message)
        self.result = result


def template_lint(
    *, template: MessageTemplate, revision: TemplateRevision | None = None
) -> LintResult:
    """The linter on the template's latest revision (or `revision`), knowing whether the
    portal holds the media header's example file (its handle is made when it is sent)."""
    source = revision or _latest_revision(template) or template
    return LintResult(
        lint_template(
            name=source.name,
            language=source.language,
            category=str(source.category).upper(),
            components=list(source.components or []),
            parameter_format=source.parameter_format,
            header_example_stored=bool(template.header_example),
        )
    )


def template_submission_check(
    *, template: MessageTemplate, warnings_acknowledged: bool
) -> LintResult:
    """Raise SubmissionBlocked if the latest revision has lint errors, or warnings the author
    has not acknowledged; return the lint result otherwise."""
    result = template_lint(template=template)
    if result.errors:
        count = len(result.errors)
        raise SubmissionBlocked(
            f"Fix the {count} error{'s' if count != 1 else ''} the checks found before "
            "submitting: Meta would reject the template.",
            result,
        )
    if result.warnings and not warnings_acknowledged:
        raise SubmissionBlocked(
            "Read the warnings and tick “I have read the warnings” to submit anyway.", result
        )
    return result


def template_submit_checked(
    *, template: MessageTemplate, actor, client, warnings_acknowledged: bool
):
    """Submit for review as the portal's page and the API both do: the role and the state
    first (a refusal tells nobody about the template's checks), then the lint (errors block,
    warnings need acknowledging), then the submission itself."""
    from templates_review.choices import ReviewAction
    from templates_review.services.common import acting_role, transition_check
    from templates_review.services.drafting import template_submit

    transition_check(
        action=ReviewAction.SUBMIT, state=template.review_state, role=acting_role(actor, client)
    )
    template_submission_check(template=template, warnings_acknowledged=warnings_acknowledged)
    return template_submit(template=template, actor=actor, client=client)

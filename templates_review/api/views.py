"""Template API: drafts (create, edit, list with filters, detail), submit for review, comments,
linting, and the BSP reviewers' queue actions (approve, request changes, reject).

Who may: reading, every member of the client, BSP staff and API keys; drafting, editing,
submitting and commenting, the client's owners, admins and agents and API keys with the write
scope (`templates_review.choices.TRANSITIONS`); the queue actions, BSP staff with the template
reviewer or superuser role, on the client's host (IsTenantMember admits staff). A move the role
may not make is a 403, one the template's state does not allow a 409; neither changes anything.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance.models import WhatsAppAccount
from portal.api.pagination import CursorPagination
from templates_review import selectors, services
from templates_review.api.serializers import (
    ApproveSerializer,
    CommentSerializer,
    LintInputSerializer,
    LintResultSerializer,
    ReviewDecisionSerializer,
    SendResultsAnswerSerializer,
    SendResultsInputSerializer,
    SubmitSerializer,
    TemplateDetailSerializer,
    TemplateSerializer,
    TemplateWriteSerializer,
)
from templates_review.choices import ReviewState
from templates_review.filtersets import TemplateFilterSet
from templates_review.linter import Severity, lint_template
from templates_review.models import MessageTemplate
from tenants.actors import Actor
from tenants.choices import ApiScope
from tenants.permissions import Area


class TemplateLintView(APIView):
    """Lint a template draft against Meta's rules and our policy heuristics; nothing is saved."""

    area = Area.TEMPLATES

    required_scope = ApiScope.READ  # linting changes nothing: a read-only key may use it

    parser_classes = [JSONParser]  # components are nested JSON; forms cannot carry them

    @extend_schema(
        request=LintInputSerializer,
        responses=LintResultSerializer,
        summary="Lint a template draft",
    )
    def post(self, request: Request) -> Response:
        data = LintInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        findings = lint_template(**data.validated_data)
        result = {
            "findings": findings,
            "errors": sum(f.severity == Severity.ERROR for f in findings),
            "warnings": sum(f.severity == Severity.WARNING for f in findings),
        }
        return Response(LintResultSerializer(result).data)


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The template's state does not allow this."
    default_code = "invalid_transition"


def _run(call):
    """A service call, with its refusals as problem details."""
    try:
        return call()
    except services.TransitionNotAllowed as exc:
        raise Conflict(str(exc)) from None
    except DjangoValidationError as exc:
        detail = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        raise exceptions.ValidationError(detail) from None


def _detail(template_id: int) -> dict:
    template = selectors.template_detail(template_id=template_id)
    data = TemplateDetailSerializer(template).data
    latest = selectors.latest_revision(template)
    if latest is not None:  # the working copy: what the client last wrote
        for field in ("name", "language", "category", "parameter_format", "components"):
            data[field] = getattr(latest, field)
    return data


class TemplatePagination(CursorPagination):
    ordering = ("name", "language", "id")


class TemplateListView(generics.ListAPIView):
    """The client's templates, filtered by status; POST creates a draft."""

    area = Area.TEMPLATES

    serializer_class = TemplateSerializer
    filterset_class = TemplateFilterSet
    pagination_class = TemplatePagination

    def get_queryset(self):
        return selectors.templates_list()

    @extend_schema(request=TemplateWriteSerializer, responses={201: TemplateDetailSerializer})
    def post(self, request: Request) -> Response:
        data = TemplateWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        args = dict(data.validated_data)
        waba_id = args.pop("waba_id", None)
        accounts = WhatsAppAccount.objects.all()
        if waba_id:
            account = accounts.filter(meta_id=waba_id).first()
        else:
            found = list(accounts[:2])
            account = found[0] if len(found) == 1 else None
        if account is None:
            raise exceptions.ValidationError(
                {"waba_id": ["Give the WABA id of one of your WhatsApp accounts."]}
            )
        template = _run(
            lambda: services.template_create_draft(
                actor=Actor.from_request(request),
                account=account,
                client=request.tenant,
                **args,
            )
        )
        return Response(_detail(template.pk), status=201)


class TemplateDetailView(APIView):
    """One template with its revisions and comments; PUT a new revision (edit)."""

    area = Area.TEMPLATES

    parser_classes = [JSONParser]

    @extend_schema(responses=TemplateDetailSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(_detail(pk))

    @extend_schema(request=TemplateWriteSerializer, responses=TemplateDetailSerializer)
    def put(self, request: Request, pk: int) -> Response:
        template = get_object_or_404(MessageTemplate, pk=pk)
        data = TemplateWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        args = dict(data.validated_data)
        args.pop("waba_id", None)
        _run(
            lambda: services.template_edit(
                template=template,
                actor=Actor.from_request(request),
                client=request.tenant,
                **args,
            )
        )
        return Response(_detail(pk))


class TemplateSubmitView(APIView):
    """Submit the latest revision to the BSP's reviewers. Lint errors refuse it (409); lint
    warnings refuse it unless `warnings_read` is true (the page's "I have read the warnings")."""

    area = Area.TEMPLATES

    parser_classes = [JSONParser]

    @extend_schema(request=SubmitSerializer, responses=TemplateDetailSerializer)
    def post(self, request: Request, pk: int) -> Response:
        template = get_object_or_404(MessageTemplate, pk=pk)
        given = SubmitSerializer(data=request.data or {})
        given.is_valid(raise_exception=True)
        _run(
            lambda: services.template_submit_checked(
                template=template,
                actor=Actor.from_request(request),
                client=request.tenant,
                warnings_acknowledged=given.validated_data["warnings_read"],
            )
        )
        return Response(_detail(pk))


class TemplateUnpauseView(APIView):
    """Unpause a template Meta paused under pacing (owners, admins, BSP staff; not API keys).
    A quality pause, a template not paused, or Meta's refusal: 409 with the reason in plain
    words."""

    area = Area.TEMPLATES

    @extend_schema(request=None, responses=TemplateDetailSerializer)
    def post(self, request: Request, pk: int) -> Response:
        from templates_review.pacing import UNPAUSE_ROLES, UnpauseRefused, template_unpause

        template = get_object_or_404(MessageTemplate, pk=pk)
        actor = Actor.from_request(request)
        if actor.role not in UNPAUSE_ROLES:
            raise exceptions.PermissionDenied(
                "Only the client's owners and admins, or BSP staff, may unpause a template."
            )
        try:
            template_unpause(template=template, actor=actor)
        except UnpauseRefused as exc:
            raise Conflict(str(exc)) from None
        return Response(_detail(pk))


class TemplateCommentsView(APIView):
    """The conversation about a template between the client and the BSP's reviewers."""

    area = Area.TEMPLATES

    parser_classes = [JSONParser]

    @extend_schema(responses=CommentSerializer(many=True))
    def get(self, request: Request, pk: int) -> Response:
        template = get_object_or_404(MessageTemplate, pk=pk)
        comments = template.comments.select_related("revision")
        return Response(CommentSerializer(comments, many=True).data)

    @extend_schema(request=CommentSerializer, responses={201: CommentSerializer})
    def post(self, request: Request, pk: int) -> Response:
        template = get_object_or_404(MessageTemplate, pk=pk)
        data = CommentSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        comment = _run(
            lambda: services.review_comment_add(
                template=template,
                actor=Actor.from_request(request),
                body=data.validated_data["body"],
                client=request.tenant,
            )
        )
        return Response(CommentSerializer(comment).data, status=201)


class TemplateApproveView(APIView):
    """Staff: approve the latest revision; it is sent to Meta in the background (create, or edit
    under Meta's rules), so the answer is a 202 with the template approved and `sending` true.
    If Meta refuses, `send_error` says why in plain words; the same call sends it again."""

    area = Area.TEMPLATES

    parser_classes = [JSONParser]

    @extend_schema(request=ApproveSerializer, responses={202: TemplateDetailSerializer})
    def post(self, request: Request, pk: int) -> Response:
        template = get_object_or_404(MessageTemplate, pk=pk)
        data = ApproveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        actor = Actor.from_request(request)
        if template.review_state == ReviewState.APPROVED:  # after a refusal: send again
            _run(
                lambda: services.template_send_request(
                    template=template, actor=actor, client=request.tenant
                )
            )
        else:
            _run(
                lambda: services.template_approve(
                    template=template,
                    actor=actor,
                    comment=data.validated_data["comment"],
                    client=request.tenant,
                )
            )
        return Response(_detail(pk), status=status.HTTP_202_ACCEPTED)


class _DecisionView(APIView):
    area = Area.TEMPLATES
    parser_classes = [JSONParser]
    service = None

    @extend_schema(request=ReviewDecisionSerializer, responses=TemplateDetailSerializer)
    def post(self, request: Request, pk: int) -> Response:
        template = get_object_or_404(MessageTemplate, pk=pk)
        data = ReviewDecisionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        decide = type(self).service
        _run(
            lambda: decide(
                template=template,
                actor=Actor.from_request(request),
                reason=data.validated_data["reason"],
                comment=data.validated_data["comment"],
                client=request.tenant,
            )
        )
        return Response(_detail(pk))


class TemplateRequestChangesView(_DecisionView):
    """Staff: send the template back to the client with a reason code and a comment."""

    service = staticmethod(services.template_request_changes)


class TemplateRejectView(_DecisionView):
    """Staff: reject the template with a reason code (mapped to Meta's rejection reason)."""

    service = staticmethod(services.template_reject)


class SendResultsView(APIView):
    """Meta's answers to the client's sends (`accepted` or `held_for_quality_assessment`), so the
    portal counts the messages Meta holds per template under pacing. A held message stops being
    held when its first delivery status arrives by webhook. Owners, admins, agents and API keys
    with the write scope."""

    area = Area.TEMPLATES
    parser_classes = [JSONParser]

    @extend_schema(
        request=SendResultsInputSerializer,
        responses=SendResultsAnswerSerializer,
        summary="Report Meta's send answers (up to 1,000): held messages are counted per template",
    )
    def post(self, request: Request) -> Response:
        from portal.meta import types as meta
        from templates_review.choices import CLIENT_AUTHORS
        from templates_review.pacing import SendResult, send_results_record

        if Actor.from_request(request).role not in CLIENT_AUTHORS:
            raise exceptions.PermissionDenied("Your role may not report sends for this client.")
        data = SendResultsInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = send_results_record(
            [
                SendResult(
                    message_id=item["message_id"],
                    held=meta.SendAnswer.from_meta(item["message_status"]) == meta.SendAnswer.HELD,
                    phone_number_id=item["phone_number_id"],
                    template_name=item["template"]["name"],
                    language=item["template"]["language"],
                )
                for item in data.validated_data["results"]
            ]
        )
        return Response(
            {
                "recorded": outcome.recorded,
                "held": outcome.held,
                "released": outcome.released,
                "unknown": outcome.unknown,
            }
        )

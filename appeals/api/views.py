"""Appeals API (`/api/v1/appeals/`): list and create, detail, the thread, transitions.

The thread never contains internal notes. Every member, staff entering the client and API keys
read; writes are decided by the services from the actor's role (viewers may not write; an API
key with the write scope acts like an operator).
"""

from __future__ import annotations

from django.conf import settings
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from appeals import choices as c
from appeals import selectors, services
from appeals.api.serializers import (
    AnswersInputSerializer,
    AppealCreateSerializer,
    AppealMessageSerializer,
    AppealSerializer,
    AppealThreadSerializer,
    AttachmentSerializer,
    AttachmentUploadSerializer,
    EvidenceBundleSerializer,
    MessageInputSerializer,
    RecoveryItemSerializer,
    RecoveryTickSerializer,
    TransitionInputSerializer,
)
from appeals.filtersets import AppealTicketFilterSet
from appeals.models import RecoveryItem
from compliance.models import HealthEvent, PhoneNumber, WhatsAppAccount
from tenants.permissions import Area


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The appeal is not in a state for this step."
    default_code = "conflict"


# The services name model fields; the API names some of them differently.
API_FIELD_NAMES = {"account": "waba_id", "number": "phone_number_id", "template": "template_id"}


def _run(call):
    try:
        return call()
    except services.AppealInvalid as exc:
        raise exceptions.ValidationError(
            {API_FIELD_NAMES.get(name, name): [reason] for name, reason in exc.errors.items()}
        ) from None
    except services.AppealStateError as exc:
        raise Conflict(str(exc)) from None


def _actor(request: Request):
    return request.user


class WarnAtContext:
    def get_serializer_context(self):
        return {**super().get_serializer_context(), "warn_at": settings.APPEALS_WARN_AT_PERCENT}


class AppealListView(WarnAtContext, generics.ListAPIView):
    """The client's appeals, newest first; POST opens a draft (prefilled from `event`)."""

    area = Area.APPEALS

    serializer_class = AppealSerializer
    filterset_class = AppealTicketFilterSet

    def get_queryset(self):
        return selectors.appeals_for_client()

    @extend_schema(request=AppealCreateSerializer, responses={201: AppealSerializer})
    def post(self, request: Request) -> Response:
        data = AppealCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        args = dict(data.validated_data)
        fields: dict = {}
        event = None
        if "event" in args:
            event = HealthEvent.objects.filter(pk=args.pop("event")).first()
            if event is None:
                raise exceptions.ValidationError({"event": ["No such event."]})
            prefill = services.prefill_from_event(event=event)
            fields = {
                "title": prefill["title"],
                "subject_kind": prefill["subject_kind"],
                "account": WhatsAppAccount.objects.filter(pk=prefill["account_id"]).first(),
                "number": PhoneNumber.objects.filter(pk=prefill["number_id"]).first()
                if prefill["number_id"]
                else None,
                "block_type": prefill["block_type"],
                "violation_type": prefill["violation_type"],
                "blocked_at": prefill["blocked_at"],
                "block_ends_at": prefill["block_ends_at"],
            }
            if prefill["template_id"]:
                from templates_review.models import MessageTemplate

                fields["template"] = MessageTemplate.objects.get(pk=prefill["template_id"])
        if "waba_id" in args:
            fields["account"] = WhatsAppAccount.objects.filter(meta_id=args.pop("waba_id")).first()
            if fields["account"] is None:
                raise exceptions.ValidationError({"waba_id": ["No such WABA in this client."]})
        if "phone_number_id" in args:
            fields["number"] = (
                PhoneNumber.objects.select_related("account")
                .filter(meta_id=args.pop("phone_number_id"))
                .first()
            )
            if fields["number"] is None:
                raise exceptions.ValidationError(
                    {"phone_number_id": ["No such phone number in this client."]}
                )
        if "template_id" in args:
            from templates_review.models import MessageTemplate

            fields["template"] = MessageTemplate.objects.filter(pk=args.pop("template_id")).first()
            if fields["template"] is None:
                raise exceptions.ValidationError({"template_id": ["No such template."]})
        fields.update(args)
        missing = [n for n in ("subject_kind", "block_type", "blocked_at") if n not in fields]
        if missing:
            raise exceptions.ValidationError(
                {n: ["This field is required (or give an `event`)."] for n in missing}
            )
        fields.setdefault("title", "Appeal")
        ticket = _run(
            lambda: services.appeal_create(
                actor=_actor(request), client=request.tenant, source_event=event, **fields
            )
        )
        return Response(
            AppealSerializer(ticket, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
        )


class AppealDetailView(WarnAtContext, generics.RetrieveAPIView):
    """One appeal; PATCH completes the guided answers (draft or waiting on the client)."""

    area = Area.APPEALS

    serializer_class = AppealSerializer
    # JSON only: a form field left empty would be read as "not given" and silently skipped.
    parser_classes = [JSONParser]

    def get_queryset(self):
        return selectors.appeals_for_client()

    @extend_schema(request=AnswersInputSerializer, responses={200: AppealSerializer})
    def patch(self, request: Request, pk: int) -> Response:
        ticket = self.get_object()
        data = AnswersInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ticket = _run(
            lambda: services.appeal_update_answers(
                ticket=ticket, actor=_actor(request), client=request.tenant, **data.validated_data
            )
        )
        ticket = selectors.appeal_get(ticket_id=ticket.pk)
        return Response(AppealSerializer(ticket, context=self.get_serializer_context()).data)


class AppealMessagesView(APIView):
    """The thread as the client sees it (never internal notes); POST adds a message."""

    area = Area.APPEALS

    @extend_schema(responses=AppealThreadSerializer)
    def get(self, request: Request, pk: int) -> Response:
        ticket = get_object_or_404(selectors.appeals_for_client(), pk=pk)
        thread = selectors.thread_for_client(ticket=ticket)
        return Response({"results": AppealMessageSerializer(thread, many=True).data})

    @extend_schema(request=MessageInputSerializer, responses={201: AppealMessageSerializer})
    def post(self, request: Request, pk: int) -> Response:
        ticket = get_object_or_404(selectors.appeals_for_client(), pk=pk)
        data = MessageInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message = _run(
            lambda: services.appeal_message_post(
                ticket=ticket,
                actor=_actor(request),
                client=request.tenant,
                body=data.validated_data["body"],
            )
        )
        return Response(AppealMessageSerializer(message).data, status=status.HTTP_201_CREATED)


class AppealTransitionView(APIView):
    """Take one workflow step (`action`); who may is decided by the one transition table."""

    area = Area.APPEALS

    @extend_schema(request=TransitionInputSerializer, responses={200: AppealSerializer})
    def post(self, request: Request, pk: int) -> Response:
        ticket = get_object_or_404(selectors.appeals_for_client(), pk=pk)
        data = TransitionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        args = data.validated_data
        action = args["action"]
        kwargs = services.transition_arguments(action, args)
        ticket = _run(
            lambda: services.TRANSITION_SERVICES[action](
                ticket=ticket, actor=_actor(request), client=request.tenant, **kwargs
            )
        )
        ticket = selectors.appeal_get(ticket_id=ticket.pk)
        return Response(
            AppealSerializer(
                ticket, context={"warn_at": settings.APPEALS_WARN_AT_PERCENT, "request": request}
            ).data
        )


def _ticket(view, pk: int):
    return get_object_or_404(selectors.appeals_for_client(), pk=pk)


class AppealAttachmentListView(APIView):
    """The appeal's files the client may see; POST uploads one (multipart, field `file`)."""

    area = Area.APPEALS

    parser_classes = [MultiPartParser]

    @extend_schema(responses=AttachmentSerializer(many=True))
    def get(self, request: Request, pk: int) -> Response:
        files = selectors.files_for_client(ticket=_ticket(self, pk))
        return Response(AttachmentSerializer(files, many=True).data)

    @extend_schema(
        request={"multipart/form-data": AttachmentUploadSerializer},
        responses={201: AttachmentSerializer},
    )
    def post(self, request: Request, pk: int) -> Response:
        ticket = _ticket(self, pk)
        data = AttachmentUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        attachment = _run(
            lambda: services.attachment_add(
                ticket=ticket,
                actor=_actor(request),
                client=request.tenant,
                upload=data.validated_data["file"],
            )
        )
        return Response(AttachmentSerializer(attachment).data, status=status.HTTP_201_CREATED)


class AppealAttachmentDownloadView(APIView):
    """The file's bytes (internal notes' files are not found)."""

    area = Area.APPEALS

    @extend_schema(
        responses={(200, "*/*"): OpenApiTypes.BINARY},  # the file's own type
    )
    def get(self, request: Request, pk: int, attachment_id: int):
        ticket = _ticket(self, pk)
        attachment = selectors.attachment_for_client(ticket=ticket, attachment_id=attachment_id)
        return FileResponse(
            attachment.file.open("rb"),
            as_attachment=True,
            filename=attachment.original_name,
            content_type=attachment.content_type,
        )


class AppealEvidenceView(APIView):
    """The appeal's evidence bundles (newest first); POST builds one from our records now."""

    area = Area.APPEALS

    @extend_schema(responses=EvidenceBundleSerializer(many=True))
    def get(self, request: Request, pk: int) -> Response:
        bundles = (
            selectors.files_for_client(ticket=_ticket(self, pk))
            .filter(kind=c.AttachmentKind.EVIDENCE_BUNDLE)
            .order_by("-created_at", "-id")
        )
        return Response(EvidenceBundleSerializer(bundles, many=True).data)

    @extend_schema(request=None, responses={201: EvidenceBundleSerializer})
    def post(self, request: Request, pk: int) -> Response:
        ticket = _ticket(self, pk)
        bundle = _run(
            lambda: services.evidence_bundle_attach(
                ticket=ticket, actor=_actor(request), client=request.tenant
            )
        )
        return Response(EvidenceBundleSerializer(bundle).data, status=status.HTTP_201_CREATED)


class AppealRecoveryView(APIView):
    """The recovery plan (once the appeal is in recovery: empty before)."""

    area = Area.APPEALS

    @extend_schema(responses=RecoveryItemSerializer(many=True))
    def get(self, request: Request, pk: int) -> Response:
        items = selectors.recovery_items(ticket=_ticket(self, pk))
        return Response(RecoveryItemSerializer(items, many=True).data)


class AppealRecoveryItemView(APIView):
    """Tick a step of the recovery plan done (or not)."""

    area = Area.APPEALS

    @extend_schema(request=RecoveryTickSerializer, responses=RecoveryItemSerializer)
    def patch(self, request: Request, pk: int, item_id: int) -> Response:
        ticket = _ticket(self, pk)
        item = get_object_or_404(RecoveryItem.objects.filter(ticket=ticket), pk=item_id)
        data = RecoveryTickSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = _run(
            lambda: services.recovery_item_set_done(
                item=item,
                actor=_actor(request),
                client=request.tenant,
                done=data.validated_data["done"],
            )
        )
        return Response(RecoveryItemSerializer(item).data)

"""Consent API: the pre-send check, recording opt-ins and opt-outs, consent history, contacts.

Who may: reading and the pre-send check, every member and API key of the client (the check
changes nothing, so a read-only key may use it); recording consent, operators (owner, admin,
agent; staff entering the client) and API keys with the write scope. Viewers may not.
"""

from __future__ import annotations

from django.db.models import Prefetch
from django.http import Http404
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework import generics
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance import choices as c
from compliance.api.serializers import (
    BulkSendCheckSerializer,
    ConsentEventSerializer,
    ConsentRecordedSerializer,
    ContactSerializer,
    DecisionSerializer,
    OptInInputSerializer,
    OptOutInputSerializer,
    SendCheckInputSerializer,
)
from compliance.consent import (
    Evidence,
    consent_record_opt_in,
    consent_record_opt_out,
    contact_normalize,
)
from compliance.filtersets import ConsentEventFilterSet
from compliance.models import ConsentEvent, Contact
from compliance.presend import presend_evaluate
from portal.api.pagination import CursorPagination
from tenants.api import permissions as tenants_permissions
from tenants.api.permissions import IsTenantMember
from tenants.choices import ApiScope
from tenants.permissions import Area


class OperatorsMayWrite(tenants_permissions.OperatorsMayWrite):
    message = "Your role does not allow recording consent."


def _decision(decision) -> dict:
    return {
        "allowed": decision.allowed,
        "reasons": [{"code": r.code, "message": r.message} for r in decision.reasons],
    }


class SendCheckView(APIView):
    """May these messages be sent now? Consent, opt-out, caps, 131049 back-off, template, number."""

    area = Area.CONSENT

    required_scope = ApiScope.READ  # the check changes nothing: a read-only key may use it
    parser_classes = [JSONParser]

    @extend_schema(
        request=SendCheckInputSerializer,
        responses={
            200: PolymorphicProxySerializer(
                component_name="SendCheckAnswer",
                serializers=[DecisionSerializer, BulkSendCheckSerializer],
                resource_type_field_name=None,
            )
        },
        description="With `recipients` the answer is a BulkSendCheck: "
        "`{results: [{recipient, allowed, reasons}], allowed, denied}`.",
        summary="Pre-send check (one recipient, or up to 10,000 in `recipients`)",
    )
    def post(self, request: Request) -> Response:
        data = SendCheckInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        args = data.validated_data
        template = args.get("template")
        bulk = "recipients" in args
        result = presend_evaluate(
            recipients=args["recipients"] if bulk else [args["recipient"]],
            phone_number_id=args["phone_number_id"],
            category=args.get("category"),
            template=(template["name"], template["language"]) if template else None,
            api=args["api"],
        )
        decisions = result.decisions
        portfolio = result.portfolio.as_dict() if result.portfolio else None
        if not bulk:
            return Response({**_decision(decisions[0]), "portfolio": portfolio})
        results = [{"recipient": d.recipient, **_decision(d)} for d in decisions]
        allowed = sum(d.allowed for d in decisions)
        return Response(
            {
                "results": results,
                "allowed": allowed,
                "denied": len(decisions) - allowed,
                "portfolio": portfolio,
            }
        )


def _record(request: Request, serializer_class, record) -> Response:
    data = serializer_class(data=request.data)
    data.is_valid(raise_exception=True)
    args = data.validated_data
    try:
        events = record(
            phone=args["phone"] or None,
            bsuid=args["bsuid"] or None,
            username=args["username"] or None,
            category=args["category"],
            source=args["source"],
            source_id=args["source_id"],
            evidence=Evidence(
                wording=args["wording"],
                wording_version=args["wording_version"],
                page_url=args["page_url"],
                ip_address=args["ip_address"],
                user_agent=args["user_agent"],
                channel=args["channel"],
            ),
            actor=request.user,
            occurred_at=args["occurred_at"],
            name=args["name"],
        )
    except ValueError as exc:
        raise ValidationError({"phone": [str(exc)]}) from None
    events = ConsentEvent.objects.select_related("contact").filter(pk__in=[e.pk for e in events])
    return Response(
        {"recorded": ConsentEventSerializer(events, many=True).data},
        status=201 if events else 200,
    )


class ConsentPagination(CursorPagination):
    ordering = ("-occurred_at", "-id")


class ConsentListView(generics.ListAPIView):
    """The consent history (opt-ins and opt-outs with evidence), newest first; POST an opt-in."""

    area = Area.CONSENT

    permission_classes = [IsTenantMember, OperatorsMayWrite]
    serializer_class = ConsentEventSerializer
    filterset_class = ConsentEventFilterSet
    pagination_class = ConsentPagination

    def get_queryset(self):
        return ConsentEvent.objects.select_related("contact")

    @extend_schema(
        request=OptInInputSerializer,
        responses={201: ConsentRecordedSerializer, 200: ConsentRecordedSerializer},
    )
    def post(self, request: Request) -> Response:
        """Record an opt-in with its evidence (idempotent with a `source_id`)."""
        return _record(request, OptInInputSerializer, consent_record_opt_in)


class OptOutView(APIView):
    """Record an opt-out of one category or `all`; it applies to the next pre-send check."""

    area = Area.CONSENT

    permission_classes = [IsTenantMember, OperatorsMayWrite]

    @extend_schema(
        request=OptOutInputSerializer,
        responses={201: ConsentRecordedSerializer, 200: ConsentRecordedSerializer},
    )
    def post(self, request: Request) -> Response:
        return _record(request, OptOutInputSerializer, consent_record_opt_out)


class ContactDetailView(APIView):
    """A contact's consent state per category and its history, by phone (E.164 or national) or
    by BSUID."""

    area = Area.CONSENT

    @extend_schema(responses=ContactSerializer)
    def get(self, request: Request, phone: str) -> Response:
        from compliance.identity import bsuid_validate, looks_like_bsuid

        try:
            if looks_like_bsuid(phone):
                found = {"bsuid": bsuid_validate(phone)}
            else:
                found = {
                    "phone": contact_normalize(phone, default_region=request.tenant.default_region)
                }
        except ValueError:
            raise Http404 from None
        contact = (
            Contact.objects.filter(**found)
            .prefetch_related(
                "states",
                Prefetch(
                    "consent_events",
                    queryset=ConsentEvent.objects.select_related("contact").order_by(
                        "-occurred_at", "-id"
                    ),
                ),
            )
            .first()
        )
        if contact is None:
            raise Http404
        states = dict.fromkeys(c.ConsentCategory.values, c.ConsentStatus.UNKNOWN.value)
        states.update({s.category: s.status for s in contact.states.all()})
        data = {
            "id": contact.pk,
            "phone": contact.phone,
            "bsuid": contact.bsuid,
            "username": contact.username,
            "wa_id": contact.wa_id,
            "name": contact.name,
            "created_at": contact.created_at,
            "states": states,
            "history": list(contact.consent_events.all()),
        }
        return Response(ContactSerializer(data).data)

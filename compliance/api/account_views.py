"""API for what was only a page: WhatsApp accounts, alerts, sync now, the messaging policy, a
contact's timeline and the client's audit trail. Each calls the existing services/selectors."""

from __future__ import annotations

from django.db.models import Prefetch, Q
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance import selectors, services
from compliance.api import serializers as s
from compliance.consent import messaging_policy_update
from compliance.consent_forms import MessagingPolicyForm
from compliance.filtersets import AlertFilterSet
from compliance.models import (
    AccountRestriction,
    Alert,
    ConsentEvent,
    Contact,
    MessagingPolicy,
    SyncRun,
    WhatsAppAccount,
)
from compliance.portfolio import accounts_with_portfolio_usage
from portal.api.pagination import CursorPagination
from portal.audit.models import AuditLog
from tenants.api.permissions import IsTenantMember, ManagersMayWrite, OperatorsMayWrite
from tenants.permissions import Area


class AccountViewSet(viewsets.ReadOnlyModelViewSet):
    """The client's WhatsApp Business Accounts: review, verification, ban state, restrictions,
    and the business portfolio's shared limit, usage and scaling state."""

    area = Area.NUMBERS

    serializer_class = s.AccountSerializer
    pagination_class = type("AccountPagination", (CursorPagination,), {"ordering": "id"})

    def get_queryset(self):
        now = timezone.now()
        active = AccountRestriction.objects.filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        ).order_by("received_at", "id")
        accounts = WhatsAppAccount.objects.prefetch_related(
            Prefetch("restrictions", queryset=active, to_attr="active_restrictions")
        ).order_by("id")
        return accounts_with_portfolio_usage(accounts, now=now)


class AlertPagination(CursorPagination):
    ordering = ("-created_at", "-id")


class AlertViewSet(viewsets.ReadOnlyModelViewSet):
    """Alerts raised by warning and critical events, newest first; acknowledge one by POST."""

    area = Area.NUMBERS

    serializer_class = s.AlertSerializer
    filterset_class = AlertFilterSet
    pagination_class = AlertPagination
    permission_classes = [IsTenantMember, OperatorsMayWrite]

    def get_queryset(self):
        return Alert.objects.select_related("event", "event__number", "acknowledged_by")

    @extend_schema(request=None, responses=s.AlertSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, pk=None) -> Response:
        """Acknowledge the alert (once; again changes nothing)."""
        alert = services.alert_acknowledge(alert=self.get_object(), actor=request.user)
        return Response(s.AlertSerializer(self.get_queryset().get(pk=alert.pk)).data)


class SyncView(APIView):
    """POST asks for a sync with Meta now (one at a time); GET lists the recent runs."""

    area = Area.NUMBERS

    permission_classes = [IsTenantMember, OperatorsMayWrite]

    @extend_schema(responses=s.SyncRunSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(s.SyncRunSerializer(SyncRun.objects.order_by("-id")[:20], many=True).data)

    @extend_schema(request=None, responses={202: s.SyncRunSerializer})
    def post(self, request: Request) -> Response:
        run = services.sync_request(actor=request.user)
        return Response(s.SyncRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class SyncRunView(generics.RetrieveAPIView):
    """One sync run and its progress."""

    area = Area.NUMBERS

    serializer_class = s.SyncRunSerializer
    queryset = SyncRun.objects.all()


class PolicyView(APIView):
    """The messaging policy (caps, window, quiet hours, opt-out keywords); owners, admins and
    write-scoped keys change it with PATCH (the same rules as the settings page)."""

    area = Area.CONSENT

    permission_classes = [IsTenantMember, ManagersMayWrite]
    parser_classes = [JSONParser]

    @extend_schema(responses=s.PolicySerializer)
    def get(self, request: Request) -> Response:
        return Response(s.PolicySerializer(MessagingPolicy.current()).data)

    @extend_schema(request=s.PolicyInputSerializer, responses=s.PolicySerializer)
    def patch(self, request: Request) -> Response:
        policy = MessagingPolicy.current()
        data = s.PolicyInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        merged = {**s.PolicySerializer(policy).data, **data.validated_data}
        keywords = merged.get("opt_out_keywords") or []
        form = MessagingPolicyForm(
            data={**merged, "opt_out_keywords": ", ".join(keywords)}, instance=policy
        )
        if not form.is_valid():
            raise ValidationError(
                {
                    (k if k != "__all__" else "non_field_errors"): [str(e) for e in v]
                    for k, v in form.errors.items()
                }
            )
        policy = messaging_policy_update(actor=request.user, **form.cleaned_data)
        return Response(s.PolicySerializer(policy).data)


class TimelinePagination(CursorPagination):
    ordering = ("-occurred_at", "-id")


class ContactTimelineView(generics.ListAPIView):
    """A contact's consent timeline (opt-ins and opt-outs with evidence), newest first."""

    area = Area.CONSENT

    serializer_class = s.ConsentEventSerializer
    pagination_class = TimelinePagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ConsentEvent.objects.none()
        contact = get_object_or_404(Contact, pk=self.kwargs["pk"])
        return ConsentEvent.objects.filter(contact=contact).select_related("contact")


class ActivityPagination(CursorPagination):
    ordering = ("-at", "-id")


class ActivityView(generics.ListAPIView):
    """The client's audit trail: who did what, when (staff's internal notes left out)."""

    area = Area.SETTINGS

    serializer_class = s.ActivitySerializer
    pagination_class = ActivityPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return AuditLog.objects.none()
        return selectors.activity_for_client(client=self.request.tenant)

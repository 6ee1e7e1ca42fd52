"""Outbound webhook endpoints and their delivery log. Owners and admins signed in; API keys with
the write scope to change them (read scope to read)."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations import selectors, services
from integrations.api import serializers as s
from integrations.choices import EVENT_TYPES, EndpointState
from integrations.models import WebhookDelivery, WebhookEndpoint
from portal.api.pagination import CursorPagination
from tenants.api.permissions import IsTenantMember, ManagersOnly
from tenants.permissions import Area


class _Base:
    area = Area.INTEGRATIONS
    permission_classes = [IsTenantMember, ManagersOnly]
    parser_classes = [JSONParser]


def _endpoint(view, pk) -> WebhookEndpoint:
    if getattr(view, "swagger_fake_view", False):
        raise Http404
    return selectors.endpoint_get(endpoint_id=pk)


def _input_error(exc: services.EndpointInputError):
    return ValidationError({exc.field: [str(exc)]})


class WebhookEndpointListView(_Base, generics.ListAPIView):
    """The client's webhook endpoints; POST adds one and answers its secret, once."""

    serializer_class = s.WebhookEndpointSerializer
    pagination_class = type("EndpointPagination", (CursorPagination,), {"ordering": "id"})

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return WebhookEndpoint.objects.none()
        return selectors.endpoints_list()

    @extend_schema(
        request=s.WebhookEndpointInputSerializer,
        responses={201: s.WebhookEndpointCreatedSerializer},
        summary="Add an endpoint (its signing secret is in this answer only)",
    )
    def post(self, request: Request) -> Response:
        data = s.WebhookEndpointInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            created = services.endpoint_create(actor=request.user, **data.validated_data)
        except services.EndpointInputError as exc:
            raise _input_error(exc) from None
        body = s.WebhookEndpointSerializer(created.endpoint).data
        return Response({**body, "secret": created.secret}, status=status.HTTP_201_CREATED)


class WebhookEndpointDetailView(_Base, APIView):
    """One endpoint: read, change (URL, description, types) or delete."""

    @extend_schema(responses=s.WebhookEndpointSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(s.WebhookEndpointSerializer(_endpoint(self, pk)).data)

    @extend_schema(request=s.WebhookEndpointUpdateSerializer, responses=s.WebhookEndpointSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        endpoint = _endpoint(self, pk)
        data = s.WebhookEndpointUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            endpoint = services.endpoint_update(
                endpoint=endpoint, actor=request.user, **data.validated_data
            )
        except services.EndpointInputError as exc:
            raise _input_error(exc) from None
        return Response(s.WebhookEndpointSerializer(endpoint).data)

    @extend_schema(responses={204: OpenApiResponse(description="Deleted, with its log.")})
    def delete(self, request: Request, pk: int) -> Response:
        services.endpoint_delete(endpoint=_endpoint(self, pk), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookEndpointRotateSecretView(_Base, APIView):
    """A new signing secret; the old one signs beside it for the overlap period."""

    @extend_schema(
        request=s.RotateSecretInputSerializer, responses=s.WebhookEndpointCreatedSerializer
    )
    def post(self, request: Request, pk: int) -> Response:
        endpoint = _endpoint(self, pk)
        data = s.RotateSecretInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rotated = services.endpoint_rotate_secret(
            endpoint=endpoint,
            actor=request.user,
            overlap_hours=data.validated_data.get("overlap_hours"),
        )
        body = s.WebhookEndpointSerializer(rotated.endpoint).data
        return Response({**body, "secret": rotated.secret})


def _state_view(target: str, doc: str):
    class StateView(_Base, APIView):
        __doc__ = doc

        @extend_schema(request=None, responses=s.WebhookEndpointSerializer)
        def post(self, request: Request, pk: int) -> Response:
            try:
                endpoint = services.endpoint_transition(
                    endpoint=_endpoint(self, pk), to=target, actor=request.user
                )
            except services.EndpointTransitionError as exc:
                raise ValidationError({"state": [str(exc)]}) from None
            return Response(s.WebhookEndpointSerializer(endpoint).data)

    StateView.__name__ = StateView.__qualname__ = f"WebhookEndpoint{target.title()}View"
    return StateView


WebhookEndpointPauseView = _state_view(
    EndpointState.PAUSED, "Pause: deliveries are kept and sent when resumed."
)
WebhookEndpointResumeView = _state_view(
    EndpointState.ACTIVE, "Resume a paused or disabled endpoint; what waits is sent now."
)


class WebhookEndpointTestView(_Base, APIView):
    """Send a `webhook.test` event to this endpoint."""

    @extend_schema(request=None, responses={202: s.WebhookDeliverySerializer})
    def post(self, request: Request, pk: int) -> Response:
        delivery = services.endpoint_send_test(endpoint=_endpoint(self, pk), actor=request.user)
        return Response(s.WebhookDeliverySerializer(delivery).data, status=202)


class WebhookDeliveryListView(_Base, generics.ListAPIView):
    """The endpoint's delivery log, newest first."""

    serializer_class = s.WebhookDeliverySerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return WebhookDelivery.objects.none()
        return selectors.deliveries_of(endpoint=_endpoint(self, self.kwargs["pk"]))


class WebhookDeliveryDetailView(_Base, APIView):
    """One delivery: its body and every attempt (headers, answer, latency)."""

    @extend_schema(responses=s.WebhookDeliveryDetailSerializer)
    def get(self, request: Request, pk: int, delivery_id: int) -> Response:
        endpoint = _endpoint(self, pk)
        delivery = selectors.delivery_get(endpoint=endpoint, delivery_id=delivery_id)
        return Response(s.WebhookDeliveryDetailSerializer(delivery).data)


class WebhookDeliveryReplayView(_Base, APIView):
    """Send the delivery again now, with the same `webhook-id`."""

    @extend_schema(request=None, responses={202: s.WebhookDeliverySerializer})
    def post(self, request: Request, pk: int, delivery_id: int) -> Response:
        endpoint = _endpoint(self, pk)
        delivery = selectors.delivery_get(endpoint=endpoint, delivery_id=delivery_id)
        delivery = services.delivery_replay(delivery=delivery, actor=request.user)
        return Response(s.WebhookDeliverySerializer(delivery).data, status=202)


class EventTypeListView(APIView):
    """Every event type the portal sends to webhook endpoints."""

    area = Area.INTEGRATIONS

    @extend_schema(responses=s.EventTypeSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response([{"type": k, "description": v} for k, v in sorted(EVENT_TYPES.items())])

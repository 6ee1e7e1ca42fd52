"""Portfolio API: the client's business portfolios with their shared messaging limit, the usage
of the last 24 hours against it, the number-registration cap and the tier history.

Read-only, for every member and API key of the client (`IsTenantMember`); a portfolio is in the
client's schema, so another client's cannot be reached.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance.api.serializers import PortfolioUsageSerializer, portfolio_usage_row
from compliance.portfolio import portfolios_for_client
from tenants.permissions import Area


class LimitChangeSerializer(serializers.Serializer):
    previous = serializers.CharField()
    limit = serializers.CharField()
    stated_at = serializers.DateTimeField()
    source = serializers.CharField()
    superseded = serializers.BooleanField()


class PortfolioSerializer(PortfolioUsageSerializer):
    phone_numbers = serializers.IntegerField(help_text="Numbers of the portfolio in the portal")
    verification = serializers.CharField()
    marketing_onboarding = serializers.CharField()
    history = LimitChangeSerializer(many=True)


def portfolio_rows() -> list[dict]:
    """The API's and the gauge's view of the client's portfolios (a few queries each)."""
    from compliance.portfolio import portfolio_numbers

    return [
        {
            **portfolio_usage_row(portfolio, usage),
            "phone_numbers": portfolio_numbers(portfolio).count(),
            "verification": portfolio.verification,
            "marketing_onboarding": portfolio.marketing_onboarding,
            "history": list(portfolio.limit_history.all()[:10]),
            "portfolio": portfolio,
        }
        for portfolio, usage in portfolios_for_client()
    ]


class PortfolioListView(APIView):
    """The client's business portfolios: limit, 24-hour usage, headroom, number cap, history."""

    area = Area.NUMBERS

    @extend_schema(responses=PortfolioSerializer(many=True), summary="Business portfolios")
    def get(self, request: Request) -> Response:
        return Response(PortfolioSerializer(portfolio_rows(), many=True).data)


class ErrorActionSerializer(serializers.Serializer):
    code = serializers.IntegerField()
    meaning = serializers.CharField()
    portal_does = serializers.CharField()
    client_should = serializers.CharField()


class ErrorActionListView(APIView):
    """Meta's delivery error codes: what each means, what the portal does by itself and what the
    client should do (`compliance.error_actions`, the words the UI and e-mails use)."""

    area = Area.NUMBERS

    @extend_schema(responses=ErrorActionSerializer(many=True), summary="Delivery error codes")
    def get(self, request: Request) -> Response:
        from compliance.error_actions import ERROR_ACTIONS

        rows = [ERROR_ACTIONS[code].as_dict() for code in sorted(ERROR_ACTIONS)]
        return Response(ErrorActionSerializer(rows, many=True).data)

from __future__ import annotations

from rest_framework import authentication, exceptions

from tenants.choices import ClientStatus
from tenants.models import ApiKey
from tenants.services import api_key_authenticate


class ApiKeyPrincipal:
    """Who a request authenticated by API key acts as: the key, inside its own client."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None

    def __init__(self, api_key: ApiKey):
        self.api_key = api_key
        self.client = api_key.client

    def __str__(self) -> str:
        return f"api-key:{self.api_key.prefix}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <key>`; a key only authenticates on its own client's host."""

    keyword = "bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Send the header as `Authorization: Bearer <key>`."
            )
        tenant = getattr(request, "tenant", None)
        if tenant is None or tenant.is_public:
            raise exceptions.AuthenticationFailed("API keys work on a client's host only.")
        if tenant.status != ClientStatus.ACTIVE:
            raise exceptions.AuthenticationFailed(
                "This client is suspended: its API keys do not work."
            )
        key = api_key_authenticate(raw=header[1].decode(errors="replace"), client=tenant)
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        return ApiKeyPrincipal(key), key

    def authenticate_header(self, request):
        return 'Bearer realm="api"'

"""Which receiver addresses the portal may call (SSRF): public http(s) only, unless
WEBHOOK_ALLOW_PRIVATE_ADDRESSES is set (tests and the demo run receivers on loopback)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings


class UnsafeUrl(ValueError):
    """The URL may not receive webhooks; the message says why, for a form or a 400."""


def url_check(url: str, *, resolve: bool = True) -> str:
    """Return the URL if the portal may send to it, else raise UnsafeUrl.

    Checked when an endpoint is saved and again before every attempt (a name may resolve
    elsewhere later)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeUrl("Enter a valid URL.") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeUrl("Only http and https addresses can receive webhooks.")
    if not parts.hostname:
        raise UnsafeUrl("Enter a valid URL with a host name.")
    if parts.username or parts.password:
        raise UnsafeUrl("Leave user names and passwords out of the URL.")
    if settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
        return url
    host = parts.hostname
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        if not resolve:
            return url
        try:
            infos = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError):
            raise UnsafeUrl(f"The host {host} cannot be resolved.") from None
        addresses = [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]
    for address in addresses:
        if not address.is_global or address.is_multicast:
            raise UnsafeUrl(
                f"{host} is a loopback, private or reserved address: only public addresses "
                "can receive webhooks."
            )
    return url

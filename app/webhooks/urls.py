"""Which URLs Holdfast will send webhooks to (pure).

Only ``http``/``https`` with a host, no credentials in the URL (they would be stored and shown
in listings) and no fragment. When private destinations are not allowed, a host that is an IP
address in a private, loopback, link-local or otherwise non-global range, or a name such as
``localhost``, is refused: a webhook must not become a way to reach the operator's internal
network. Names are also resolved and checked right before each delivery (see the worker).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import SplitResult, urlsplit

MAX_URL_LENGTH = 2048
_PORT = r"([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
# What parse_webhook_url accepts, as a pattern for the OpenAPI document (an ASCII subset of it:
# a client can tell a refused URL from the schema alone).
URL_PATTERN = rf"^[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9.-]+(:{_PORT})?([/?][\x21\x22\x24-\x7e]*)?$"
_LOCAL_NAMES = ("localhost", "localhost.localdomain")
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal")


def parse_webhook_url(url: str) -> SplitResult:
    """The split URL, or ValueError saying what is wrong with it."""
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"must be at most {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise ValueError("must not contain whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"is not a valid URL ({exc})") from None
    if parts.scheme not in {"http", "https"}:
        raise ValueError("must be an http or https URL")
    if not parts.hostname:
        raise ValueError("must name a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not contain credentials; authenticate with the signature")
    if parts.fragment:
        raise ValueError("must not contain a fragment")
    if port == 0:
        raise ValueError("must not use port 0")
    return parts


def is_public_address(address: str) -> bool:
    """True when ``address`` is a globally routable unicast IP address (so not private,
    loopback, link-local, multicast, reserved or unspecified). IPv4-mapped IPv6 addresses are
    judged by the IPv4 address they carry."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def private_host_reason(host: str) -> str | None:
    """Why ``host`` (a URL's host name) is a private destination, or None when it may be public.
    A name that is not an IP literal may still resolve to a private address; that is checked
    at delivery time."""
    name = host.lower().rstrip(".")
    if name in _LOCAL_NAMES or name.endswith(_LOCAL_SUFFIXES):
        return "names a local host"
    try:
        ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return None
    if not is_public_address(name):
        return "is a private, loopback or reserved address"
    return None


def check_webhook_url(url: str, *, allow_private: bool) -> str | None:
    """None when Holdfast may send to ``url``, else the reason it may not."""
    try:
        parts = parse_webhook_url(url)
    except ValueError as exc:
        return str(exc)
    if not allow_private and parts.hostname is not None:
        reason = private_host_reason(parts.hostname)
        if reason is not None:
            return f"host {reason}; private destinations are not allowed on this server"
    return None

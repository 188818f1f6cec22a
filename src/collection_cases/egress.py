"""Egress policy: where this server may open connections on a tenant's behalf (webhooks).

Two checks, one rule set:

- `EgressPolicy.check_url` judges a URL without DNS (endpoint create and update answer 422):
  scheme, user info, the host as the HTTP client will connect to it, IP literals in every
  spelling a resolver accepts (`2130706433`, `0x7f000001`, `0177.0.0.1`, `127.1`,
  `[::ffff:127.0.0.1]`), `localhost` and `*.localhost`, cloud metadata names.
- `EgressTransport` enforces it where the connection is made: it resolves the host once,
  checks every address the name resolves to (one refused address refuses the name), then
  connects to a checked address while TLS (SNI and certificate) and the `Host` header keep the
  name. Nothing resolves the name a second time, so DNS rebinding between check and connect
  cannot happen.

Refused unless an operator allows the range (`COLLECTION_CASES_EGRESS_ALLOW_CIDRS`): every
address that is not global unicast (loopback, private, link-local, unique-local, multicast,
unspecified, reserved, shared/CGNAT, documentation, benchmarking, Teredo, local NAT64), and the
IPv4-mapped, -compatible, 6to4 and NAT64 forms of those. Test mode may also reach loopback (a
developer's local receiver) unless the operator turns that off. Cloud metadata addresses are
refused whatever the settings say.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx

if TYPE_CHECKING:
    from collection_cases.config import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[Sequence[IPAddress]]]

# Names that reach a cloud provider's instance metadata service (credentials!). Single-label
# names ("metadata") are refused anyway: a resolver's search list would expand them.
METADATA_NAMES = frozenset(
    {
        "metadata.google.internal",
        "metadata.goog",
        "metadata.azure.internal",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
        "metadata.platformequinix.com",
        "metadata.packet.net",
    }
)
# Metadata services' addresses: never reachable, not even through the operator's allow list.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle...
        "169.254.170.2",  # AWS ECS task credentials
        "169.254.169.253",  # AWS DNS
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
    )
)
LOOPBACK = (ipaddress.IPv4Address("127.0.0.1"), ipaddress.IPv6Address("::1"))
_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SHARED_V4 = ipaddress.IPv4Network("100.64.0.0/10")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_BAD_URL_CHARS = re.compile(r"[\x00-\x20\x7f\\]")
# A request extension saying which mode's rules apply (live when absent: the strict ones).
TEST_MODE = "collection_cases.test_mode"
MAX_ADDRESSES_TRIED = 3


class Refused(ValueError):
    """A destination the policy refuses. The message completes "url ..." for a 422; it is
    never shown in a tenant's delivery log."""


class DestinationBlocked(httpx.TransportError):
    """Raised by `EgressTransport` instead of connecting; the attempt is `blocked_destination`."""


@dataclass(frozen=True)
class Target:
    """Where a URL points, as the HTTP client will see it."""

    scheme: str
    host: str  # lower case, IDNA (ASCII), no trailing dot; an IP literal in its usual form
    port: int
    address: IPAddress | None  # the host is an IP literal (in any spelling)
    local_name: bool  # localhost or *.localhost: loopback by definition, never looked up


def parse_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a resolver (inet_aton, WHATWG URL) reads from `host`, or None if it is
    a name. Decimal (`2130706433`), hex (`0x7f000001`), octal (`0177.0.0.1`) and short forms
    (`127.1`, `127.0.1`) all count. A host whose last label is numeric but is no valid address
    is refused: no real name ends in a number."""
    labels = host.split(".")
    if not labels or not _NUMERIC_LABEL.match(labels[-1]):
        return None
    if len(labels) > 4:
        raise Refused("must have a valid host name or IP address")
    numbers: list[int] = []
    for label in labels:
        if not _NUMERIC_LABEL.match(label):
            raise Refused("must have a valid host name or IP address")
        if label.startswith("0x"):
            numbers.append(int(label[2:] or "0", 16))
        elif len(label) > 1 and label.startswith("0"):
            if not set(label) <= set("01234567"):
                raise Refused("must have a valid host name or IP address")
            numbers.append(int(label, 8))
        else:
            numbers.append(int(label))
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        raise Refused("must have a valid host name or IP address")
    value = last
    for i, n in enumerate(head):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def parse_ip(host: str) -> IPAddress | None:
    """An IP literal in any spelling, or None for a name."""
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise Refused("must have a valid host name or IP address") from None
    return parse_ipv4(host)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (and reaches): mapped, compatible, translated,
    6to4 and NAT64 (64:ff9b::/96)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    value = int(ip)
    if value >> 32 == 0 and value > 1:  # ::a.b.c.d (IPv4-compatible, deprecated)
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    if value >> 32 == 0xFFFF0000:  # ::ffff:0:a.b.c.d (IPv4-translated)
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    return None


def _parse_cidrs(text: str) -> tuple[IPNetwork, ...]:
    networks: list[IPNetwork] = []
    for item in text.split(","):
        if item.strip():
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
    return tuple(networks)


@dataclass(frozen=True)
class EgressPolicy:
    allow: tuple[IPNetwork, ...] = ()
    test_mode_loopback: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> EgressPolicy:
        return _policy(settings.egress_allow_cidrs, settings.test_mode_may_reach_loopback)

    def refusal(self, ip: IPAddress, *, is_test: bool) -> str | None:
        """Why connecting to `ip` is refused (None: allowed)."""
        if ip in METADATA_ADDRESSES:
            return "must not point at a cloud metadata address"
        if any(ip.version == net.version and ip in net for net in self.allow):
            return None
        if isinstance(ip, ipaddress.IPv6Address):
            if ip.teredo is not None:
                return "must not point at a Teredo address"
            inner = embedded_ipv4(ip)
            if inner is not None:
                return self.refusal(inner, is_test=is_test)
            if ip.is_loopback:
                return None if is_test and self.test_mode_loopback else _LOOPBACK
            if ip.is_link_local or ip.is_site_local:
                return "must not point at a link-local address"
            if ip.is_multicast:
                return "must not point at a multicast address"
            if ip.is_private and ip not in _GLOBAL_UNICAST_V6:
                return "must not point at a private address"
            if ip not in _GLOBAL_UNICAST_V6 or not ip.is_global:
                return "must not point at a non-public address"
            return None
        if ip.is_loopback:
            return None if is_test and self.test_mode_loopback else _LOOPBACK
        if ip.is_link_local:
            return "must not point at a link-local address"
        if ip.is_multicast:
            return "must not point at a multicast address"
        if ip.is_unspecified or ip in _ZERO_NET:
            return "must not point at an unspecified address"
        if ip in _SHARED_V4:
            return "must not point at a shared (carrier-grade NAT) address"
        if ip.is_reserved:
            return "must not point at a reserved address"
        if ip.is_private:
            return "must not point at a private address"
        if not ip.is_global:
            return "must not point at a non-public address"
        return None

    def check_address(self, ip: IPAddress, *, is_test: bool) -> None:
        reason = self.refusal(ip, is_test=is_test)
        if reason is not None:
            raise Refused(reason)

    def check_url(self, url: str, *, is_test: bool) -> Target:
        """Judge a webhook URL without DNS; raise `Refused` or return where it points."""
        target = parse_target(url)
        loopback = target.local_name or (target.address is not None and is_loopback(target.address))
        if target.scheme != "https" and not (is_test and loopback):
            raise Refused("must use https (test mode also accepts http://localhost and 127.0.0.1)")
        if target.local_name:
            if not (is_test and self.test_mode_loopback):
                raise Refused(_LOOPBACK)
        elif target.address is not None:
            self.check_address(target.address, is_test=is_test)
        return target

    async def addresses(
        self, target: Target, *, is_test: bool, resolver: Resolver
    ) -> list[IPAddress]:
        """Every address `target` reaches, each one checked (a refused one raises `Refused`)."""
        if target.address is not None:
            found: Sequence[IPAddress] = [target.address]
        elif target.local_name:
            found = LOOPBACK
        else:
            found = await resolver(target.host, target.port)
        checked = list(dict.fromkeys(found))
        for ip in checked:
            self.check_address(ip, is_test=is_test)
        return checked


_LOOPBACK = "must not point at a loopback address"
_ZERO_NET = ipaddress.IPv4Network("0.0.0.0/8")


def is_loopback(ip: IPAddress) -> bool:
    """127.0.0.0/8 and ::1, also in an IPv6 form that carries an IPv4 address."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = embedded_ipv4(ip)
        return inner.is_loopback if inner is not None else ip.is_loopback
    return ip.is_loopback


@lru_cache(maxsize=8)
def _policy(allow_cidrs: str, test_mode_loopback: bool) -> EgressPolicy:
    return EgressPolicy(allow=_parse_cidrs(allow_cidrs), test_mode_loopback=test_mode_loopback)


def default_policy() -> EgressPolicy:
    """The policy the process settings describe."""
    from collection_cases.config import get_settings

    return EgressPolicy.from_settings(get_settings())


def parse_target(url: str) -> Target:
    """Scheme, host and port of `url` as httpx (which makes the connection) reads them."""
    if _BAD_URL_CHARS.search(url):
        raise Refused("must be an absolute https:// URL")
    try:
        parsed = httpx.URL(url)
        port = parsed.port
    except (httpx.InvalidURL, ValueError):
        host = urlsplit(url).hostname or ""
        if host and _NUMERIC_LABEL.match(host.rsplit(".", 1)[-1]):  # e.g. octal, refused by httpx
            raise Refused("must have a valid host name or IP address") from None
        raise Refused("must be an absolute https:// URL") from None
    if parsed.scheme not in ("https", "http") or not parsed.raw_host:
        raise Refused("must be an absolute https:// URL")
    if parsed.userinfo or "@" in url.split("://", 1)[-1].split("/", 1)[0]:
        raise Refused("must not contain a user name or password")
    if port is not None and not 0 < port < 65536:
        raise Refused("must have a valid port")
    host = parsed.raw_host.decode("ascii").lower()
    if host.endswith("."):
        host = host[:-1]
    if "%" in host or not host:
        raise Refused("must have a valid host name or IP address")
    address = parse_ip(host)
    default_port = 443 if parsed.scheme == "https" else 80
    if address is not None:
        return Target(parsed.scheme, str(address), port or default_port, address, False)
    labels = host.split(".")
    if any(not label for label in labels):
        raise Refused("must have a valid host name or IP address")
    local = labels[-1] == "localhost"
    if host in METADATA_NAMES:
        raise Refused("must not point at a cloud metadata service")
    if len(labels) == 1 and not local:
        raise Refused("must have a fully qualified host name")
    return Target(parsed.scheme, host, port or default_port, None, local)


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """The addresses of `host`, from the operating system's resolver."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        found.append(ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0]))
    return found


class EgressTransport(httpx.AsyncBaseTransport):
    """An httpx transport that connects only where the policy allows, to the address it
    checked. The mode comes from the request extension `TEST_MODE` (live when absent)."""

    def __init__(
        self,
        policy: EgressPolicy,
        *,
        resolver: Resolver = system_resolver,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.policy = policy
        self.resolver = resolver
        # No proxies from the environment: the connection goes where it was checked to go. No
        # kept-alive connections: the pool knows a connection by the address it was pinned
        # to, so one verified (TLS) for a name could otherwise carry another name's requests.
        self.inner = httpx.AsyncHTTPTransport(
            verify=verify,
            trust_env=False,
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        extensions = dict(request.extensions)
        is_test = extensions.pop(TEST_MODE, False) is True
        try:
            target = self.policy.check_url(str(request.url), is_test=is_test)
            try:
                addresses = await self.policy.addresses(
                    target, is_test=is_test, resolver=self.resolver
                )
            except OSError as exc:  # the name does not resolve
                raise httpx.ConnectError("name not resolved", request=request) from exc
        except Refused as exc:
            raise DestinationBlocked(str(exc), request=request) from None
        if not addresses:
            raise httpx.ConnectError("name has no address", request=request)
        if target.address is None and target.scheme == "https":
            extensions["sni_hostname"] = target.host  # TLS checks the certificate for the name
        error: httpx.TransportError | None = None
        for ip in addresses[:MAX_ADDRESSES_TRIED]:
            pinned = httpx.Request(
                request.method,
                request.url.copy_with(host=str(ip)),
                headers=request.headers,  # Host: the name, as the client set it
                stream=request.stream,
                extensions=extensions,
            )
            try:
                return await self.inner.handle_async_request(pinned)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                error = exc  # try the name's next address
        assert error is not None
        raise error

    async def aclose(self) -> None:
        await self.inner.aclose()

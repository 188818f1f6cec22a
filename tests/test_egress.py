"""The egress policy on its own: every spelling of a refused destination, with a stub resolver
(no real DNS anywhere), and the transport connecting only to the address it checked."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from collection_cases import egress
from collection_cases.config import Settings
from collection_cases.egress import DestinationBlocked, EgressPolicy, EgressTransport, Refused

POLICY = EgressPolicy()


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[tuple[int, ssl.SSLContext]]:
    """An HTTPS server on 127.0.0.1 whose certificate names only hooks.tls.example; it answers
    with the SNI name it was sent and the Host header. Yields its port and a client context
    that trusts the certificate (and checks host names, as the default one does)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hooks.tls.example")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("hooks.tls.example")]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    seen: dict[str, str | None] = {}

    def on_sni(sock: ssl.SSLObject, server_name: str | None, ctx: ssl.SSLContext) -> None:
        seen["sni"] = server_name

    server_context.sni_callback = on_sni  # type: ignore[assignment]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keeps connections open: a client could reuse them

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = f"sni={seen.get('sni')} host={self.headers.get('Host')}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client_context = ssl.create_default_context(cadata=cert_pem.decode())
    yield server.server_address[1], client_context
    server.shutdown()
    server.server_close()


# Hosts refused in live mode, whatever their spelling (the comment says what they reach).
LIVE_REFUSED = [
    "localhost",
    "LOCALHOST.",
    "api.localhost",
    "127.0.0.1",
    "127.0.0.2",
    "2130706433",  # 127.0.0.1, decimal
    "0x7f000001",  # hex
    "0x7f.0.0.1",
    "0177.0.0.1",  # octal
    "0177.1",
    "127.1",  # short forms
    "127.0.1",
    "017700000001",  # octal, one number
    "[::1]",
    "[::ffff:127.0.0.1]",  # IPv4-mapped
    "[::ffff:7f00:1]",
    "[::127.0.0.1]",  # IPv4-compatible
    "[::ffff:0:127.0.0.1]",  # IPv4-translated
    "[2002:7f00:1::]",  # 6to4 of 127.0.0.1
    "[64:ff9b::7f00:1]",  # NAT64 of 127.0.0.1
    "[64:ff9b::a9fe:a9fe]",  # NAT64 of 169.254.169.254
    "10.0.0.5",
    "172.16.3.4",
    "192.168.1.1",
    "3232235777",  # 192.168.1.1
    "[::ffff:10.0.0.1]",
    "[2002:c0a8:101::1]",  # 6to4 of 192.168.1.1
    "169.254.169.254",  # metadata
    "2852039166",  # 169.254.169.254, decimal
    "0xa9fea9fe",
    "0251.0376.0251.0376",
    "169.254.1.1",
    "[fe80::1]",
    "[fd00:ec2::254]",  # AWS metadata over IPv6
    "[fc00::1]",
    "[fd12:3456::1]",  # unique-local
    "[fec0::1]",  # site-local
    "224.0.0.1",  # multicast
    "239.255.255.250",
    "[ff02::1]",
    "[ff0e::1]",
    "0.0.0.0",  # unspecified
    "0",
    "0.1.2.3",
    "[::]",
    "240.0.0.1",  # reserved
    "255.255.255.255",
    "100.64.0.1",  # shared / CGNAT
    "100.100.100.200",  # Alibaba metadata
    "192.0.0.192",  # Oracle metadata
    "192.0.2.1",  # documentation
    "198.18.0.1",  # benchmarking
    "[2001:db8::1]",
    "[2001:0:4136:e378:8000:63bf:3fff:fdd2]",  # Teredo
    "[64:ff9b:1::1]",  # local-use NAT64
    "[100::1]",  # discard
    "metadata.google.internal",
    "METADATA.GOOGLE.INTERNAL.",
    "metadata.goog",
    "metadata",  # single label: a resolver's search list would expand it
    "instance-data",
    "intranet",
]


class TestCheckUrl:
    @pytest.mark.parametrize("host", LIVE_REFUSED)
    def test_live_mode_refuses(self, host):
        with pytest.raises(Refused):
            POLICY.check_url(f"https://{host}/hooks", is_test=False)

    @pytest.mark.parametrize(
        "host",
        [
            "169.254.169.254",
            "2852039166",
            "[fe80::1]",
            "[::ffff:169.254.169.254]",
            "metadata.google.internal",
            "10.0.0.5",
            "[fd00:ec2::254]",
            "0.0.0.0",
        ],
    )
    def test_test_mode_refuses_link_local_metadata_and_private(self, host):
        with pytest.raises(Refused):
            POLICY.check_url(f"https://{host}/hooks", is_test=True)

    @pytest.mark.parametrize(
        "url",
        [
            "http://localhost:9000/hooks",
            "http://127.0.0.1:9000/hooks",
            "http://127.1:9000/hooks",
            "http://[::1]:9000/hooks",
            "http://api.localhost/hooks",
            "https://2130706433/hooks",
        ],
    )
    def test_test_mode_reaches_loopback(self, url):
        target = POLICY.check_url(url, is_test=True)
        assert target.local_name or (target.address and egress.is_loopback(target.address))
        with pytest.raises(Refused):
            POLICY.check_url(url, is_test=False)

    def test_operator_can_turn_test_mode_loopback_off(self):
        strict = EgressPolicy(test_mode_loopback=False)
        for url in ("http://localhost:9000/h", "http://2130706433/h", "https://[::1]/h"):
            with pytest.raises(Refused):
                strict.check_url(url, is_test=True)

    @pytest.mark.parametrize(
        "url",
        [
            "https://hooks.example.com/x",
            "https://hooks.example.com:8443/x?a=b",
            "https://93.184.216.34/x",
            "https://1572395042/x",  # 93.184.216.34 in decimal: public, so allowed
            "https://[2606:2800:220:1:248:1893:25c8:1946]/x",
            "https://bücher.example/x",
        ],
    )
    def test_public_destinations_pass(self, url):
        POLICY.check_url(url, is_test=False)

    @pytest.mark.parametrize(
        "url",
        [
            "http://hooks.example.com/x",  # live needs https
            "ftp://hooks.example.com/x",
            "https://user:pw@hooks.example.com/x",
            "https://:pw@hooks.example.com/x",
            "https://hooks.example.com\\@127.0.0.1/x",
            "https://hooks.example.com:99999/x",
            "https://1.2.3.4.5/x",  # numeric last label, no valid address
            "https://256.1.1.1/x",
            "https://08.1.1.1/x",  # not octal
            "https://[fe80::1%25eth0]/x",  # zone ids
            "https:///x",
            "not a url",
            "https://hooks..example.com/x",
            "https://hooks.example.com /x",
        ],
    )
    def test_malformed_or_sneaky_urls(self, url):
        with pytest.raises(Refused):
            POLICY.check_url(url, is_test=False)

    def test_http_in_test_mode_only_to_loopback(self):
        with pytest.raises(Refused, match="https"):
            POLICY.check_url("http://hooks.example.com/x", is_test=True)

    def test_operator_allow_list(self):
        policy = EgressPolicy.from_settings(
            Settings(egress_allow_cidrs="10.20.0.0/16, fd12::/16", egress_test_mode_loopback=True)
        )
        policy.check_url("https://10.20.3.4/x", is_test=False)
        policy.check_url("https://[::ffff:10.20.3.4]/x", is_test=False)
        policy.check_url("https://[fd12::1]/x", is_test=False)
        with pytest.raises(Refused):
            policy.check_url("https://10.21.3.4/x", is_test=False)
        # Metadata stays refused even inside an allowed range.
        wide = EgressPolicy(allow=(ipaddress.ip_network("169.254.0.0/16"),))
        wide.check_url("https://169.254.10.10/x", is_test=False)
        with pytest.raises(Refused, match="metadata"):
            wide.check_url("https://169.254.169.254/x", is_test=False)


@pytest.mark.parametrize(
    ("settings", "loopback"),
    [
        ({"database_url": None}, True),  # the embedded default: a developer's machine
        ({"database_url": "postgresql://db/cc", "embedded": True}, True),  # as `serve` marks it
        ({"database_url": "postgresql://db/cc"}, False),  # a deployment: loopback is ours
        ({"database_url": "postgresql://db/cc", "egress_test_mode_loopback": True}, True),
        ({"database_url": None, "egress_test_mode_loopback": False}, False),
    ],
)
def test_test_mode_reaches_loopback_only_on_a_developers_machine(settings, loopback, monkeypatch):
    monkeypatch.delenv("COLLECTION_CASES_EGRESS_TEST_MODE_LOOPBACK", raising=False)
    policy = EgressPolicy.from_settings(Settings(**settings))
    if loopback:
        policy.check_url("http://127.0.0.1:6379/", is_test=True)
    else:
        with pytest.raises(Refused, match="loopback"):
            policy.check_url("http://127.0.0.1:6379/", is_test=True)
    with pytest.raises(Refused):
        policy.check_url("http://127.0.0.1:6379/", is_test=False)  # live mode: never


class TestParse:
    @pytest.mark.parametrize(
        ("host", "address"),
        [
            ("2130706433", "127.0.0.1"),
            ("0x7f000001", "127.0.0.1"),
            ("0177.0.0.1", "127.0.0.1"),
            ("127.1", "127.0.0.1"),
            ("127.0.1", "127.0.0.1"),
            ("10.1", "10.0.0.1"),
            ("0x0a.0.0.1", "10.0.0.1"),
            ("1.2.3.4", "1.2.3.4"),
            ("0", "0.0.0.0"),
            ("hooks.example.com", None),
            ("1e100.net", None),
        ],
    )
    def test_every_ipv4_spelling(self, host, address):
        parsed = egress.parse_ipv4(host)
        assert (str(parsed) if parsed else None) == address


class StubResolver:
    """Answers from a table, counts lookups; no real DNS."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[egress.IPAddress]:
        self.lookups.append(host)
        if host not in self.table:
            raise OSError("no such name")
        return [ipaddress.ip_address(a) for a in self.table[host]]


class TestTransport:
    async def post(self, transport, url, *, is_test=False):  # type: ignore[no-untyped-def]
        async with httpx.AsyncClient(transport=transport, timeout=2) as client:
            return await client.post(url, content=b"{}", extensions={egress.TEST_MODE: is_test})

    @pytest.mark.parametrize(
        "answer",
        [
            ["127.0.0.1"],
            ["10.1.2.3"],
            ["169.254.169.254"],
            ["::1"],
            ["::ffff:127.0.0.1"],
            ["fe80::1"],
            ["fd00::5"],
            ["93.184.216.34", "10.0.0.1"],  # one bad address refuses the name
            ["0.0.0.0"],
        ],
    )
    async def test_name_resolving_to_a_refused_address_is_blocked(self, answer):
        resolver = StubResolver({"hooks.example.com": answer})
        transport = EgressTransport(POLICY, resolver=resolver)
        with pytest.raises(DestinationBlocked):
            await self.post(transport, "https://hooks.example.com/x")
        assert resolver.lookups == ["hooks.example.com"]

    async def test_test_mode_still_blocks_link_local_behind_a_name(self):
        resolver = StubResolver({"hooks.example.com": ["169.254.169.254"]})
        with pytest.raises(DestinationBlocked):
            await self.post(
                EgressTransport(POLICY, resolver=resolver),
                "https://hooks.example.com/x",
                is_test=True,
            )

    async def test_literals_and_local_names_are_never_looked_up(self):
        resolver = StubResolver({})
        transport = EgressTransport(POLICY, resolver=resolver)
        for url in ("https://2130706433/", "https://localhost/", "https://[::1]/"):
            with pytest.raises(DestinationBlocked):
                await self.post(transport, url)
        assert resolver.lookups == []

    async def test_unresolvable_name_is_a_connect_error(self):
        transport = EgressTransport(POLICY, resolver=StubResolver({}))
        with pytest.raises(httpx.ConnectError):
            await self.post(transport, "https://nowhere.example.com/x")

    async def test_connects_to_the_checked_address_keeping_sni_and_host(self, tls_receiver):
        """A name only the stub resolver knows reaches the HTTPS receiver on 127.0.0.1: the
        connection went to the address the policy checked (looked up once, never again by the
        HTTP client); the handshake sent SNI for the name and the certificate, issued for the
        name only, verified; the Host header is the name. Another name on the same address,
        which the certificate does not cover, fails, even right after (no connection verified
        for one name carries another's requests); in live mode the name is refused."""
        port, context = tls_receiver
        resolver = StubResolver(
            {"hooks.tls.example": ["127.0.0.1"], "other.tls.example": ["127.0.0.1"]}
        )
        transport = EgressTransport(POLICY, resolver=resolver, verify=context)
        test_mode = {egress.TEST_MODE: True}
        async with httpx.AsyncClient(transport=transport, timeout=2) as client:
            url = f"https://hooks.tls.example:{port}/hooks"
            for _ in range(2):
                response = await client.post(url, content=b"{}", extensions=test_mode)
                assert response.status_code == 200
                assert response.text == f"sni=hooks.tls.example host=hooks.tls.example:{port}"
            assert resolver.lookups == ["hooks.tls.example"] * 2
            with pytest.raises(httpx.ConnectError):
                await client.post(
                    f"https://other.tls.example:{port}/hooks", content=b"{}", extensions=test_mode
                )
            with pytest.raises(DestinationBlocked):
                await client.post(url, content=b"{}")

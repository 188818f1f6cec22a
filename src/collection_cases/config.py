"""Process settings, read once from the environment (and overridden by CLI flags)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_ACCOUNT = "demo"
DEMO_KEY = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"
# Webhook deliveries are retried for three days after their event (events/delivery.py,
# GIVE_UP_AFTER, plus one last backoff of at most about seven hours), and retention drops a
# month's deliveries with its events: it must outlast the retries.
MIN_EVENT_RETENTION_DAYS = 4
# A webhook lease must outlast an attempt's deadline by this much: what covers the moments
# between the claim and the attempt's start (the deliveries start at once). A write-back later
# than the lease (a busy pool) costs at most a second attempt, never a lost or overwritten
# result (events/delivery.py).
WEBHOOK_LEASE_MARGIN_SECONDS = 1.0


def check_webhook_lease(lease: float, timeout: float) -> None:
    """A claimed delivery is not due again for `lease` seconds; it must outlast an attempt
    (`timeout`) by WEBHOOK_LEASE_MARGIN_SECONDS, else a delivery still being sent could be
    claimed again (ValueError). Checked by the settings and by the delivery worker."""
    margin = WEBHOOK_LEASE_MARGIN_SECONDS
    if lease <= timeout + margin:
        raise ValueError(
            f"COLLECTION_CASES_WEBHOOK_LEASE_SECONDS ({lease:g}) must exceed "
            f"COLLECTION_CASES_WEBHOOK_TIMEOUT_SECONDS ({timeout:g}) by more than {margin:g} s: "
            "a delivery still being sent would otherwise be claimed again (its lease ran out)"
        )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COLLECTION_CASES_", extra="ignore")

    # With no DATABASE_URL an embedded PostgreSQL is started under data_dir.
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "COLLECTION_CASES_DATABASE_URL")
    )
    data_dir: Path = Path("./.data")
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    log_level: str = "info"
    # Connections per API process, all kept open (min = max): sized to the requests one process
    # serves at once. A request waits at most db_pool_timeout seconds for one (then 503).
    db_pool_size: int = 16
    db_pool_timeout: float = 5.0
    # Connections of a standalone `collection-cases worker` (deliveries run concurrently).
    worker_pool_size: int = 4
    db_connect_timeout: int = 5
    # How long a lost connection is retried in the background (backoff 1, 2, 4... s) before
    # the pool leaves it to the next request to open one: a bound on how late the service
    # notices that the database is back after an outage.
    db_reconnect_seconds: float = Field(default=10.0, gt=0)
    db_statement_timeout_ms: int = 15_000
    # Seconds a valid key is remembered per process (0: look it up on every request). A
    # revoked key keeps working for at most this long.
    key_cache_seconds: float = 5.0
    # Requests per second per API key, shared by all processes (0: no limit). Counted in
    # PostgreSQL, or in Redis when REDIS_URL is set.
    rate_limit_per_second: int = 200
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "COLLECTION_CASES_REDIS_URL")
    )
    # Largest JSON request body accepted (uploads have their own limit).
    max_json_body_bytes: int = 1_048_576
    # Slow and abrupt clients (http_server.py, request_body.py). The request line and headers
    # must arrive within this many seconds of the connection (or of the next request's first
    # byte); a connection that sends nothing is closed at the same deadline.
    request_header_timeout_seconds: float = Field(default=10.0, gt=0)
    # While a body is read, the longest wait for its next chunk (408 and close).
    request_body_timeout_seconds: float = Field(default=15.0, gt=0)
    # An idle kept-alive connection is closed after this many seconds (uvicorn's own timer).
    keep_alive_timeout_seconds: int = Field(default=5, gt=0)
    # Proxies whose X-Forwarded-Proto/-For are believed (comma separated addresses or CIDRs,
    # "*" for any): set it to the load balancer's addresses when it terminates TLS, so links
    # the server writes (error doc_url, the docs' curl base) say https. Unset: uvicorn's
    # default, FORWARDED_ALLOW_IPS or 127.0.0.1.
    forwarded_allow_ips: str | None = None
    # Open connections per process; a request on a connection beyond answers 503.
    max_connections: int = Field(default=1000, gt=0)
    # A body the server answered early (413, 401...) is read and discarded up to this many
    # bytes before the connection is closed, so the client reads the answer, not a reset.
    max_drain_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
    # Where case files go: unset = a folder under data_dir; file:///path; s3://bucket/prefix
    # (credentials, region and endpoint from the standard AWS_* settings).
    file_store_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("FILE_STORE_URL", "COLLECTION_CASES_FILE_STORE_URL"),
    )
    max_upload_bytes: int = 25 * 1024 * 1024
    # Deliver webhooks from inside each API process (`collection-cases worker` runs them alone).
    run_worker: bool = True
    webhook_timeout_seconds: float = 10.0
    webhook_lease_seconds: float = 60.0
    # Events (and their webhook deliveries) are kept at least this many days, at most a month
    # more: retention drops whole monthly partitions once every row in them is this old.
    event_retention_days: int = 30
    # Webhooks reach only public addresses. Extra ranges an operator allows, comma separated
    # CIDRs ("10.20.0.0/16,fd12::/48"); cloud metadata addresses stay refused whatever is here.
    egress_allow_cidrs: str = ""
    # Test-mode endpoints may also reach loopback (a developer's local receiver). Unset: on for
    # the embedded default (a developer's machine), off with an external DATABASE_URL (a shared
    # deployment, where loopback is the server's own services, not the developer's).
    egress_test_mode_loopback: bool | None = None
    # The server's secret key (seals webhook secrets at rest; see secret_key.py), or a file
    # holding it. Unset on the embedded default: <data_dir>/secret_key, generated on first
    # start. Required with an external DATABASE_URL. Old keys, comma separated, still decrypt.
    secret_key: SecretStr | None = None
    secret_key_file: str | None = None
    secret_keys_old: SecretStr = SecretStr("")
    # Set by `serve` when it started the embedded database: demo key is ensured then.
    embedded: bool = False
    # Prometheus metrics at GET /metrics (no API key): on by default; `metrics_port` serves them
    # on a port of their own instead (then not on the API's port), e.g. for a private network.
    metrics: bool = True
    metrics_port: int | None = Field(default=None, gt=0, lt=65536)
    # OpenTelemetry traces through FastAPI's native support, plus spans for database calls and
    # webhook deliveries. Exported over OTLP when the standard OTEL_EXPORTER_OTLP_ENDPOINT (and
    # OTEL_*) environment is set. Off: no per-request cost at all.
    tracing: bool = False
    # Once a process has started, everything it built (routes, schemas, templates, the
    # OpenAPI models) is moved out of the garbage collector's sight (gc.freeze): a full
    # collection then walks only what requests allocate, not ~150,000 startup objects (a
    # ~40-100 ms pause that every request in flight waits out). Off: the interpreter's default.
    gc_freeze: bool = True

    @field_validator("event_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value < MIN_EVENT_RETENTION_DAYS:
            raise ValueError(
                f"must be at least {MIN_EVENT_RETENTION_DAYS} days: webhook deliveries are "
                "retried for 3 days after their event, and are dropped with it"
            )
        return value

    @model_validator(mode="after")
    def _lease_outlasts_an_attempt(self) -> Settings:
        check_webhook_lease(self.webhook_lease_seconds, self.webhook_timeout_seconds)
        return self

    @field_validator("egress_allow_cidrs")
    @classmethod
    def _cidrs(cls, value: str) -> str:
        for item in value.split(","):
            if item.strip():
                ipaddress.ip_network(item.strip(), strict=False)  # ValueError names the item
        return value

    @property
    def test_mode_may_reach_loopback(self) -> bool:
        """`egress_test_mode_loopback`, or when unset: only on a developer's embedded default."""
        if self.egress_test_mode_loopback is not None:
            return self.egress_test_mode_loopback
        return self.embedded or self.database_url is None


@lru_cache
def get_settings() -> Settings:
    return Settings()

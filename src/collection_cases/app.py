"""create_app(): routers, middleware, error handlers, lifespan."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from psycopg import InterfaceError as PsycopgInterfaceError
from psycopg import OperationalError as PsycopgOperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from collection_cases import __version__, db, egress, metrics, openapi_docs, secret_key
from collection_cases.accounts.dependencies import api_routes, document_permissions
from collection_cases.accounts.permissions import PLATFORM_RESOURCES
from collection_cases.accounts.service import KeyCache
from collection_cases.body import REQUEST_MODELS, json_response
from collection_cases.cases.router import router as cases_router
from collection_cases.cases.test_helpers import router as test_helpers_router
from collection_cases.chat.router import router as chat_router
from collection_cases.config import DEMO_KEY, Settings, get_settings
from collection_cases.errors import (
    ApiError,
    MethodNotAllowed,
    NotFound,
    ServiceUnavailable,
    from_validation_errors,
    printable,
)
from collection_cases.events.delivery import DeliveryWorker
from collection_cases.events.router import router as events_router
from collection_cases.files.router import router as files_router
from collection_cases.files.storage import open_store
from collection_cases.idempotency.service import Replay
from collection_cases.middleware import RequestContextMiddleware
from collection_cases.openapi_docs import ErrorResponse, Health
from collection_cases.partners.router import router as partners_router
from collection_cases.payments.router import router as payments_router
from collection_cases.query import document_query_models
from collection_cases.ratelimit import Grants, make_limiter
from collection_cases.tokens.router import router as tokens_router
from collection_cases.web import router as web

log = logging.getLogger("collection_cases")

API_DESCRIPTION = """
The Collection Cases API: submit a debt to a licensed collection partner and follow it to its
end. Authenticate with `Authorization: Bearer sk_test_...` (or HTTP Basic with the key as user
name). Every error answers `{"error": {"type", "code", "message", "param", "doc_url"}}` and every
response carries a `Request-Id` header. What each error means and how to fix it:
[the error reference](/docs/errors).
"""

_DEMO_KEY_HELP = (
    f"This server runs on the embedded default, so the demo account's key works: "
    f"`{DEMO_KEY}`. Paste it here and press Authorize."
)
_KEYS_HELP = (
    "No key exists until an operator creates one: `collection-cases keys create --account NAME` "
    "prints it once."
)


def _add_routes(app: FastAPI, router: APIRouter) -> None:
    """The router's routes, added to the app's own list as they are. `include_router` would
    wrap the router in one more layer that every request is matched through (FastAPI 0.16x:
    an included router matches its routes in turn, with a scope context per candidate); our
    routers (the API's, the pages', the dashboard's) carry their prefix, tags and route class
    themselves, so their routes need nothing from it, and the app's route list is flat.
    Measured in-process: a retrieve costs ~10 % less CPU (bench/README.md, "What the profiles
    show")."""
    app.router.routes.extend(router.routes)


# Tried first, in this order, by the router: retrieve, list, create.
_HOT = (
    ("GET", "/v1/collection_cases/{case_id}"),
    ("GET", "/v1/collection_cases"),
    ("POST", "/v1/collection_cases"),
)


def _hot_first(routes: list[Any]) -> list[Any]:
    """The routes in the order requests are matched against them: the hottest operations
    (`_HOT`) first, the rest as declared. A request is tried against each route in turn until
    one matches, ~1 µs for each that does not: a retrieve came fifth (after /openapi.json,
    create, list and retrieve by reference). No route declared before a hot one matches its
    paths, so the same route answers every request (tests/test_app.py checks it)."""

    def rank(route: Any) -> int:
        methods = getattr(route, "methods", None) or ()
        path = getattr(route, "path", None)
        return min((_HOT.index((m, path)) for m in methods if (m, path) in _HOT), default=len(_HOT))

    return sorted(routes, key=rank)


def _methods_at(routes: Any, path: str) -> set[str]:
    """Every method some route serves at `path`."""
    methods: set[str] = set()
    for route in routes:
        if (regex := getattr(route, "path_regex", None)) is not None and regex.match(path):
            methods |= set(getattr(route, "methods", None) or ())
    return methods


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return exc.response()

    @app.exception_handler(Replay)
    async def _replay(request: Request, exc: Replay) -> Response:
        metrics.IDEMPOTENT_REPLAYS.inc()
        return exc.response

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return from_validation_errors(list(exc.errors())).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        where = f"{request.method} {printable(request.url.path, 200)}"
        if exc.status_code == 404:
            message = f"Unrecognized request URL ({where})."
            resource = request.url.path.removeprefix("/v1/").split("/", 1)[0]
            if request.url.path.startswith("/v1/") and resource in PLATFORM_RESOURCES:
                # The vendor's getting-started pages show other products' endpoints.
                message += (
                    f" {resource} belongs to another product of the platform; this server "
                    "implements debt collection (see /docs for what it serves)."
                )
            return NotFound(message, code="url_invalid").response()
        if exc.status_code == 405:
            # Every method of every route at this path (Starlette names only the first).
            allowed = sorted(_methods_at(request.app.router.routes, request.url.path))
            return MethodNotAllowed(
                f"Method not allowed for this URL ({where}).",
                headers={"Allow": ", ".join(allowed)},
            ).response()
        error = ApiError(str(exc.detail))
        error.status_code = exc.status_code
        error.type = "invalid_request_error" if exc.status_code < 500 else "api_error"
        return error.response()

    async def _database(request: Request, exc: Exception) -> Response:
        # Down, unreachable, restarted, no connection free in time, or a statement timed out.
        # Connections broken by a restart leave the pool as they are returned; a check drops
        # the idle ones now, so the next requests get fresh connections.
        _check_pool_soon(request.app)
        log.warning(
            "database unavailable",
            extra={"fields": {"request_id": request.state.request_id, "error": repr(exc)}},
        )
        return ServiceUnavailable(
            "The database is unreachable right now; the request was not applied. Safe to retry.",
            headers={"Retry-After": "1"},
        ).response()

    for exc_type in (PsycopgOperationalError, PsycopgInterfaceError):
        app.add_exception_handler(exc_type, _database)


def _check_pool_soon(app: FastAPI) -> None:
    task: asyncio.Task[None] | None = getattr(app.state, "pool_check", None)
    if task is None or task.done():
        app.state.pool_check = asyncio.create_task(app.state.pool.check())


def _health_router() -> APIRouter:
    router = APIRouter(tags=["Operations"])

    @router.get(
        "/healthz", response_model=Health, operation_id="check_health", summary="The process is up"
    )
    async def healthz() -> dict[str, str]:
        """Answers 200 as long as the server process runs, without touching the database: a
        liveness probe. Needs no key."""
        return {"status": "ok"}

    @router.get(
        "/readyz",
        operation_id="check_readiness",
        summary="The database is reachable",
        responses={
            200: {"model": Health, "description": "Ready to serve requests"},
            503: {
                "model": ErrorResponse,
                "description": "Database unreachable",
                "content": {
                    "application/json": {
                        "examples": openapi_docs.media(
                            [
                                openapi_docs.example(
                                    "service_unavailable", "The database is not reachable.", None
                                )
                            ],
                            503,
                        )
                    }
                },
            },
        },
    )
    async def readyz(request: Request) -> Response:
        """Answers 200 when the database answers within 3 seconds, else 503: a readiness
        probe for load balancers (send traffic elsewhere until it is 200 again). Needs no
        key."""
        pool: db.Pool = request.app.state.pool
        try:
            async with asyncio.timeout(3), pool.connection() as conn:
                await db.execute(conn, "SELECT 1")
        except Exception:  # any failure to reach the database means not ready
            return ServiceUnavailable("The database is not reachable.").response()
        return json_response({"status": "ok"})

    return router


def _custom_openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    # The routes as declared: the router tries the hottest first (`_hot_first`).
    routes = app.state.declared_routes
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    ref = "#/components/schemas/{model}"
    for name, model in REQUEST_MODELS.items():
        body = model.model_json_schema(ref_template=ref, mode="validation")
        for def_name, definition in body.pop("$defs", {}).items():
            components.setdefault(def_name, definition)
        components[name] = body
    # FastAPI's default 422 body never appears on the wire: document ours instead.
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            responses = operation.get("responses", {})
            if "422" in responses:
                content = responses["422"].get("content", {}).get("application/json", {})
                if "HTTPValidationError" in str(content.get("schema", {})):
                    responses["422"] = {
                        "description": "A well-formed value that breaks a field rule",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/ErrorResponse"}
                            }
                        },
                    }
    # Keys are parsed by us (so errors keep our shape), not by FastAPI's security classes.
    # Swagger UI's Authorize dialog shows these descriptions: say where a key comes from.
    settings: Settings = app.state.settings
    key_help = _DEMO_KEY_HELP if settings.embedded else _KEYS_HELP
    if settings.embedded:
        schema["info"]["description"] += (
            f"\n**Try it here:** press *Authorize* and use the demo key `{DEMO_KEY}`.\n"
        )
    schema["components"]["securitySchemes"] = {
        "HTTPBearer": {
            "type": "http",
            "scheme": "bearer",
            "description": f"Your API key (`sk_test_...`, `rk_test_...`, `pk_test_...`) as a "
            "bearer token. "
            f"{key_help}",
        },
        "HTTPBasic": {
            "type": "http",
            "scheme": "basic",
            "description": "The API key as user name, empty password (`curl -u sk_test_...:`). "
            f"{key_help}",
        },
    }
    for name, path in schema.get("paths", {}).items():
        if name.startswith("/v1/"):
            for operation in path.values():
                operation["security"] = [{"HTTPBearer": []}, {"HTTPBasic": []}]
    # Answers any route can give: rate limits everywhere; on POSTs, body size and type,
    # and an Idempotency-Key still in flight.
    error_ref = {
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
    }
    common = {
        "429": "Too many requests with this key (Retry-After says when to come back)",
    }
    post_only = {
        "409": "A request with this Idempotency-Key is still in flight",
        "413": "Request body too large",
        "415": "Unsupported content type",
    }
    for name, path in schema.get("paths", {}).items():
        if not name.startswith("/v1/"):
            continue
        for method, operation in path.items():
            responses = operation.setdefault("responses", {})
            extra = {**common, **(post_only if method == "post" else {})}
            for code, description in extra.items():
                responses.setdefault(code, {"description": description, **error_ref})
            if method == "post":
                operation.setdefault("parameters", []).append(
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "maxLength": 255},
                        "description": "Retry safely: the first response is replayed for 24 h",
                    }
                )
    document_query_models(api_routes(routes), schema)
    document_permissions(routes, schema)
    declared_422 = {
        (route.path_format, method.lower())
        for route in api_routes(routes)
        if 422 in route.responses
        for method in route.methods or ()
    }
    openapi_docs.complete(schema, declared_422)
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components.setdefault("ErrorResponse", ErrorResponse.model_json_schema(ref_template=ref))
    for def_name, definition in components["ErrorResponse"].pop("$defs", {}).items():
        components.setdefault(def_name, definition)
    app.openapi_schema = schema
    return schema


async def open_pool(settings: Settings, *, size: int, name: str) -> db.Pool:
    if not settings.database_url:
        raise RuntimeError("DATABASE_URL is not set")
    return await db.open_configured_pool(settings.database_url, settings, size=size, name=name)


_OUTBOX = (
    "SELECT count(*) AS pending, coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age "
    "FROM webhook_deliveries WHERE status = 'pending'"
)


def _metrics_router() -> APIRouter:
    router = APIRouter()

    @router.get("/metrics", include_in_schema=False)
    async def prometheus_metrics(request: Request) -> Response:
        """Prometheus text format; the outbox figures are read from the database now."""
        await _observe_outbox(request.app.state.pool)
        _observe_pools(request.app)
        return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)

    return router


async def _observe_outbox(pool: db.Pool) -> None:
    try:
        async with asyncio.timeout(2), pool.connection() as conn:
            row = await db.fetch_one(
                conn, _OUTBOX, scope=db.Unscoped("an operator's figure over every account")
            )
    except (TimeoutError, PsycopgOperationalError):
        return  # the database is down: the last figures stay, /readyz says the rest
    assert row is not None
    metrics.OUTBOX_PENDING.set(row["pending"])
    metrics.OUTBOX_OLDEST.set(float(row["age"]))


def _observe_pools(app: FastAPI) -> None:
    for name in ("pool", "worker_pool"):
        pool: db.Pool | None = getattr(app.state, name, None)
        if pool is not None:
            metrics.observe_pool(pool.name, pool.get_stats())


async def _observe_pools_forever(app: FastAPI, stop: asyncio.Event, every: float = 5.0) -> None:
    """Each process keeps its pools' gauges current (a scrape reaches only one process), and
    the outbox figures every third round (for scrapes on a metrics port of their own)."""
    rounds = 0
    while not stop.is_set():
        _observe_pools(app)
        if rounds % 3 == 0:
            await _observe_outbox(app.state.pool)
        rounds += 1
        try:
            await asyncio.wait_for(stop.wait(), timeout=every)
        except TimeoutError:
            pass


def _telemetry(settings: Settings, tracer_provider: Any) -> dict[str, Any]:
    """FastAPI's native OpenTelemetry: off unless configured (then spans for every request,
    exported over OTLP when the OTEL_* environment names an endpoint)."""
    if not settings.tracing and tracer_provider is None:
        return {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
    from opentelemetry import trace

    db.trace_with(trace.get_tracer("collection_cases", tracer_provider=tracer_provider))
    return {
        "tracing": True,
        "metrics": False,
        "logs": False,
        "operation_spans": True,
        "auto_configure": tracer_provider is None,
        "tracer_provider": tracer_provider,
    }


def freeze_startup_objects(freeze: bool) -> None:
    """What the process built before serving stays for its life: collected once now, then
    frozen (gc.freeze), so later full collections skip it (`Settings.gc_freeze`). The gauge
    shows how many objects are frozen (0 when off)."""
    if freeze:
        gc.collect()
        gc.freeze()
    metrics.GC_FROZEN.set(gc.get_freeze_count())


def create_app(
    settings: Settings | None = None, *, pool: db.Pool | None = None, tracer_provider: Any = None
) -> FastAPI:
    """The API. With `pool` the caller owns the connections (tests); otherwise the app opens
    its pool at startup and closes it at shutdown. `tracer_provider` turns tracing on with it
    (tests); otherwise `settings.tracing` does, with the global provider."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_pool = pool is None
        if own_pool:
            app.state.pool = await open_pool(settings, size=settings.db_pool_size, name="api")
        stop = asyncio.Event()
        worker_task = None
        if settings.run_worker:
            # Its own connections: deliveries never wait behind requests, nor requests behind
            # deliveries.
            worker_pool = await open_pool(settings, size=2, name="webhooks")
            app.state.worker_pool = worker_pool
            worker = DeliveryWorker(
                worker_pool,
                timeout=settings.webhook_timeout_seconds,
                lease=settings.webhook_lease_seconds,
                event_retention_days=settings.event_retention_days,
                keys=secret_key.keyring(settings),
                policy=egress.EgressPolicy.from_settings(settings),
            )
            worker_task = asyncio.create_task(worker.run_forever(stop))
        gauges = (
            asyncio.create_task(_observe_pools_forever(app, stop)) if settings.metrics else None
        )
        freeze_startup_objects(settings.gc_freeze)
        try:
            yield
        finally:
            stop.set()
            if gauges is not None:
                await gauges
            if worker_task is not None:
                await worker_task
                await worker.close()
                await worker_pool.close()
            if own_pool:
                await app.state.pool.close()

    app = FastAPI(
        title="Collection Cases API",
        version=__version__,
        description=API_DESCRIPTION,
        lifespan=lifespan,
        redirect_slashes=False,
        # FastAPI's native OpenTelemetry costs a check on every request; off by default.
        telemetry=_telemetry(settings, tracer_provider),  # type: ignore[arg-type]
        # Served by web/ from the package instead of a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.key_cache = KeyCache(settings.key_cache_seconds)
    app.state.rate_limiter = make_limiter(settings.redis_url)
    app.state.rate_grants = Grants()
    app.state.file_store = open_store(settings.file_store_url, settings.data_dir)
    db.configure_json()
    if pool is not None:
        app.state.pool = pool
    _install_error_handlers(app)
    # The declared order (the OpenAPI document's); the hottest operations are then moved to
    # the front for matching (`_hot_first`).
    for router in (
        cases_router,
        files_router,
        chat_router,
        payments_router,
        partners_router,
        test_helpers_router,
        events_router,
        tokens_router,
        _health_router(),
    ):
        _add_routes(app, router)
    if settings.metrics and settings.metrics_port is None:
        _add_routes(app, _metrics_router())
    for router in web.routers():
        _add_routes(app, router)
    web.mount_assets(app)
    app.state.declared_routes = list(app.router.routes)
    app.router.routes[:] = _hot_first(app.router.routes)
    # Request ids, body limits, access log, last-resort errors; the body's idle timeout and
    # lingering close, and errors under /dashboard as pages, its own 413s and 500s included.
    app.add_middleware(
        RequestContextMiddleware,
        max_json_body_bytes=settings.max_json_body_bytes,
        body_timeout=settings.request_body_timeout_seconds,
        max_drain_bytes=settings.max_drain_bytes,
        metrics=settings.metrics,
    )
    app.openapi = lambda: _custom_openapi(app)  # type: ignore[method-assign]
    return app


def build_app() -> FastAPI:
    """Entry point for uvicorn (also in each worker process): settings from the environment."""
    from collection_cases import logs

    settings = get_settings()
    logs.configure(settings.log_level)
    secret_key.keyring(settings)  # no key, no start (`serve` says so before getting here)
    return create_app(settings)

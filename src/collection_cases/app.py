"""create_app(): routers, middleware, error handlers, lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from psycopg import InterfaceError as PsycopgInterfaceError
from psycopg import OperationalError as PsycopgOperationalError
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from collection_cases import __version__
from collection_cases.accounts.service import KeyCache
from collection_cases.body import REQUEST_MODELS, json_response
from collection_cases.cases.router import router as cases_router
from collection_cases.cases.test_helpers import router as test_helpers_router
from collection_cases.chat.router import router as chat_router
from collection_cases.config import DEMO_KEY, Settings, get_settings
from collection_cases.db import configure_json, create_engine
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
from collection_cases.openapi_docs import ErrorResponse
from collection_cases.partners.router import router as partners_router
from collection_cases.payments.router import router as payments_router
from collection_cases.ratelimit import Grants, make_limiter
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


def _is_outage(exc: Exception) -> bool:
    """The database cannot serve us now (down, unreachable, pool exhausted, timed out)."""
    if isinstance(exc, sa_exc.TimeoutError | PsycopgOperationalError | PsycopgInterfaceError):
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        return exc.connection_invalidated or isinstance(
            exc.orig, PsycopgOperationalError | PsycopgInterfaceError
        )
    return False


def _methods_at(routes: Any, path: str) -> set[str]:
    """Every method some route serves at `path` (included routers are walked too)."""
    methods: set[str] = set()
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            methods |= _methods_at(inner.routes, path)
        elif (regex := getattr(route, "path_regex", None)) is not None and regex.match(path):
            methods |= set(getattr(route, "methods", None) or ())
    return methods


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return exc.response()

    @app.exception_handler(Replay)
    async def _replay(request: Request, exc: Replay) -> Response:
        return exc.response

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return from_validation_errors(list(exc.errors())).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        where = f"{request.method} {printable(request.url.path, 200)}"
        if exc.status_code == 404:
            return NotFound(f"Unrecognized request URL ({where}).", code="url_invalid").response()
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
        if _is_outage(exc):
            # Requests use the driver directly, so SQLAlchemy's pool has not seen the broken
            # connections: drop them all, the next checkout connects afresh.
            await request.app.state.engine.dispose()
            log.warning(
                "database unavailable",
                extra={"fields": {"request_id": request.state.request_id, "error": repr(exc)}},
            )
            return ServiceUnavailable(
                "The database is unreachable right now; the request was not applied. "
                "Safe to retry.",
                headers={"Retry-After": "1"},
            ).response()
        raise exc

    for exc_type in (sa_exc.DBAPIError, sa_exc.TimeoutError, PsycopgOperationalError):
        app.add_exception_handler(exc_type, _database)


def _health_router() -> APIRouter:
    router = APIRouter(tags=["Operations"])

    @router.get("/healthz", summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz",
        summary="The database is reachable",
        responses={503: {"model": ErrorResponse, "description": "Database unreachable"}},
    )
    async def readyz(request: Request) -> Response:
        engine: AsyncEngine = request.app.state.read_engine
        try:
            async with asyncio.timeout(3):
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
        except Exception:  # any failure to reach the database means not ready
            return ServiceUnavailable("The database is not reachable.").response()
        return json_response({"status": "ok"})

    return router


def _custom_openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
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
            "description": f"Your API key (`sk_test_...`, `rk_test_...`) as a bearer token. "
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
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components.setdefault("ErrorResponse", ErrorResponse.model_json_schema(ref_template=ref))
    for def_name, definition in components["ErrorResponse"].pop("$defs", {}).items():
        components.setdefault(def_name, definition)
    app.openapi_schema = schema
    return schema


def create_app(settings: Settings | None = None, *, engine: AsyncEngine | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_engine = engine is None
        app.state.engine = engine or create_engine(settings)
        app.state.read_engine = app.state.engine.execution_options(isolation_level="AUTOCOMMIT")
        stop = asyncio.Event()
        worker_task = None
        if settings.run_worker:
            worker = DeliveryWorker(
                app.state.engine,
                timeout=settings.webhook_timeout_seconds,
                lease=settings.webhook_lease_seconds,
            )
            worker_task = asyncio.create_task(worker.run_forever(stop))
        try:
            yield
        finally:
            stop.set()
            if worker_task is not None:
                await worker_task
                await worker.close()
            if own_engine:
                await app.state.engine.dispose()

    app = FastAPI(
        title="Collection Cases API",
        version=__version__,
        description=API_DESCRIPTION,
        lifespan=lifespan,
        redirect_slashes=False,
        # Served by web/ from the package instead of a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.key_cache = KeyCache(settings.key_cache_seconds)
    app.state.rate_limiter = make_limiter(settings.redis_url)
    app.state.rate_grants = Grants()
    app.state.file_store = open_store(settings.file_store_url, settings.data_dir)
    configure_json()
    if engine is not None:
        app.state.engine = engine
        app.state.read_engine = engine.execution_options(isolation_level="AUTOCOMMIT")
    _install_error_handlers(app)
    app.include_router(_health_router())
    app.include_router(cases_router)
    app.include_router(files_router)
    app.include_router(chat_router)
    app.include_router(payments_router)
    app.include_router(partners_router)
    app.include_router(test_helpers_router)
    app.include_router(events_router)
    web.install(app)
    app.add_middleware(RequestContextMiddleware, max_json_body_bytes=settings.max_json_body_bytes)
    app.openapi = lambda: _custom_openapi(app)  # type: ignore[method-assign]
    return app


def build_app() -> FastAPI:
    """Entry point for uvicorn (also in each worker process): settings from the environment."""
    from collection_cases import logs

    settings = get_settings()
    logs.configure(settings.log_level)
    return create_app(settings)

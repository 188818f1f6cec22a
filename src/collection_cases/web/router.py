"""Routes of the web pages: the front door, the API docs and the error reference (the
dashboard's are in dashboard/).

Every asset comes from the package (Swagger UI and ReDoc from fastapi-offline's bundle, ours from
static/), so the pages work with no internet; each page carries a Content-Security-Policy that
allows nothing from another host and no inline script.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import APIRouter, FastAPI, Request
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from collection_cases import __version__, errors
from collection_cases.body import json_response
from collection_cases.config import DEMO_KEY, Settings

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
VENDOR_DIR = Path(fastapi_offline.__file__).parent / "static"

# Our pages and Swagger UI: no inline script or style at all.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# ReDoc injects <style> elements (styled-components) and runs its search in a blob: worker;
# its scripts still come from this server only.
REDOC_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self' data:; worker-src blob:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


@dataclass(frozen=True)
class Link:
    name: str
    path: str
    title: str
    description: str


LINKS: tuple[Link, ...] = (
    Link("docs", "/docs", "API reference", "Every endpoint and field, with Try it out"),
    Link("redoc", "/redoc", "API reference (ReDoc)", "The same reference on one long page"),
    Link(
        "error_reference",
        errors.ERRORS_PATH,
        "Error reference",
        "Every error type and code: what it means and how to fix it",
    ),
    Link("openapi", "/openapi.json", "OpenAPI schema", "For generated clients and tools"),
    Link("healthz", "/healthz", "Health", "The process is up"),
    Link("readyz", "/readyz", "Readiness", "The database is reachable"),
)
# Shown once an app serves it (the dashboard is a later addition).
DASHBOARD = Link("dashboard", "/dashboard", "Dashboard", "Your cases, payments and events")

templates = Jinja2Templates(directory=HERE / "templates")
_TICKS = re.compile(r"`([^`]+)`")


def _ticks(text: str) -> Markup:
    """Escape text and render `backticked` parts as code."""
    return Markup(_TICKS.sub(r"<code>\1</code>", str(escape(text))))


templates.env.filters["ticks"] = _ticks

router = APIRouter(include_in_schema=False)


def routers() -> tuple[APIRouter, ...]:
    """The pages' routers, the dashboard's too: the app adds their routes as it adds the
    API's (`app._add_routes`)."""
    from collection_cases.web.dashboard.router import router as dashboard

    return router, dashboard


def mount_assets(app: FastAPI) -> None:
    """The static assets, served from the package."""
    # The vendor mount first: "/static" would otherwise take its paths too.
    app.mount("/static/vendor", StaticFiles(directory=VENDOR_DIR), name="vendor")
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


def _has_route(app: FastAPI, path: str) -> bool:
    return any(getattr(route, "path", None) == path for route in app.router.routes)


def _links(request: Request) -> list[Link]:
    links = list(LINKS)
    if _has_route(request.app, DASHBOARD.path):
        links.insert(0, DASHBOARD)
    return links


def _demo_key(request: Request) -> str | None:
    settings: Settings = request.app.state.settings
    return DEMO_KEY if settings.embedded else None


def _prefers_html(accept: str) -> bool:
    """True when the client ranks text/html above JSON (browsers do; `*/*` alone does not)."""
    quality: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        quality[media.lower()] = max(q, quality.get(media.lower(), 0.0))
    html = quality.get("text/html", quality.get("application/xhtml+xml", 0.0))
    return html > 0 and html >= quality.get("application/json", 0.0)


def page(request: Request, template: str, csp: str = PAGE_CSP, **context: Any) -> Response:
    """A page of ours: the shared context, and the headers every page carries (its CSP)."""
    settings: Settings = request.app.state.settings
    response = templates.TemplateResponse(
        request,
        template,
        {
            "root": request.scope.get("root_path", ""),
            "base": errors.base_url(request.scope),
            "version": __version__,
            "links": _links(request),
            "embedded": settings.embedded,
            "demo_key": _demo_key(request),
            **context,
        },
        headers={
            "Content-Security-Policy": csp,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY",
            "Cache-Control": "no-cache",
            "Vary": "Accept",
        },
    )
    return response


@router.get("/")
async def front_door(request: Request) -> Response:
    """A page for a browser; for an API client (Accept: application/json), a JSON index."""
    if _prefers_html(request.headers.get("accept", "")):
        return page(request, "index.html")
    base = errors.base_url(request.scope)
    links: dict[str, str | None] = {link.name: base + link.path for link in _links(request)}
    links.setdefault(DASHBOARD.name, None)
    response = json_response(
        {
            "object": "api_index",
            "name": request.app.title,
            "version": __version__,
            "links": links,
            "demo_key": _demo_key(request),
        }
    )
    response.headers["Vary"] = "Accept"
    return response


@router.get("/docs")
async def swagger_ui(request: Request) -> Response:
    return page(request, "swagger.html")


@router.get("/redoc")
async def redoc(request: Request) -> Response:
    return page(request, "redoc.html", REDOC_CSP)


@router.get(errors.ERRORS_PATH)
async def error_reference(request: Request) -> Response:
    base = errors.base_url(request.scope)

    def example(entry: errors.ErrorDoc) -> str:
        body = {
            "error": {
                "type": entry.answers[0][1],
                "code": entry.name,
                "message": entry.example,
                "param": entry.param,
                "doc_url": f"{base}{errors.ERRORS_PATH}#{entry.name}",
            }
        }
        return json.dumps(body, indent=2, ensure_ascii=False)

    return page(
        request,
        "errors.html",
        types=errors.ERROR_TYPES,
        codes=[(entry, example(entry)) for entry in errors.ERROR_CODES],
    )

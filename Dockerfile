# syntax=docker/dockerfile:1
# Build a wheel (with the migrations, templates and static assets packaged inside), then install
# it into a slim runtime. The runtime installs no extras: no embedded PostgreSQL (the `embedded`
# extra) — DATABASE_URL points at a real server.
FROM python:3.12-slim AS build
WORKDIR /src
RUN pip install --no-cache-dir build
COPY pyproject.toml README.md alembic.ini ./
COPY src ./src
COPY migrations ./migrations
RUN python -m build --wheel --outdir /dist

FROM python:3.12-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    COLLECTION_CASES_HOST=0.0.0.0 \
    COLLECTION_CASES_PORT=8000 \
    COLLECTION_CASES_DATA_DIR=/data
RUN useradd --system --create-home --uid 10001 app \
    && mkdir -p /data && chown app /data
COPY --from=build /dist/*.whl /tmp/
RUN pip install --no-cache-dir /tmp/*.whl && rm /tmp/*.whl
USER app
EXPOSE 8000
# Ready once migrations are applied and the database answers; the start period covers a first
# start that migrates an empty database.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2)" || exit 1
# DATABASE_URL and COLLECTION_CASES_SECRET_KEY must be set (without either, `serve` stops with a
# message saying so); `serve` applies migrations under an advisory lock, so several replicas
# can start at once.
CMD ["collection-cases", "serve"]

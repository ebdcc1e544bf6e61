"""The API's documentation pages without a CDN: Swagger UI at /docs and ReDoc at /redoc, with their
scripts and styles served by this server from the `fastapi-offline` package's copy of them.

FastAPI's own pages load those assets from jsDelivr, so on a server without internet access (or
a browser behind a strict proxy) /docs was a blank page. We use only the package's files, not its
app factory; its Swagger UI is 5.x, which renders the OpenAPI 3.1 document FastAPI writes.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_PATH = "/docs/assets"


def install_docs_pages(app: FastAPI, *, title: str) -> None:
    """Call with `FastAPI(docs_url=None, redoc_url=None)`: these pages take those paths."""
    assets = files("fastapi_offline") / "static"
    app.mount(ASSETS_PATH, StaticFiles(directory=str(assets)), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} — API",
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} — API",
            redoc_js_url=f"{ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_PATH}/favicon.png",
            with_google_fonts=False,
        )

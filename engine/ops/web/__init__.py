"""The web page for policy officers, served by `lawful serve` at `/` (and opened by `lawful web`).

The page is static: `static/index.html`, `static/app.js` and `static/app.css` (no framework, nothing from a
CDN, so it works on a network with no internet) and the vendored Swagger UI for `/docs`. It asks the service's
API (`/v1/names`, `/v1/decide`, `/v1/reach`, `/v1/timeline`, `/v1/flows`, `/v1/graph`) and puts every value it
gets into the page as text (never as HTML), under a Content-Security-Policy that allows no inline script.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

STATIC = Path(__file__).resolve().parent / "static"


def add_page(app: Any) -> None:
    """Serve the page at `/`, its files under `/static/`, and the API docs from vendored files at `/docs`."""
    from fastapi.responses import FileResponse, HTMLResponse
    from fastapi.staticfiles import StaticFiles

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8",
                            headers={"cache-control": "no-cache"})

    @app.get("/docs", include_in_schema=False)
    def docs() -> Any:
        if not (STATIC / "swagger" / "swagger-ui-bundle.js").is_file():
            return HTMLResponse("<!doctype html><title>API</title><p>The API is described in "
                                "<a href=\"/openapi.json\">/openapi.json</a>.</p>")
        return FileResponse(STATIC / "swagger" / "docs.html", media_type="text/html; charset=utf-8")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Any:
        from fastapi.responses import Response

        return Response(status_code=204)

    app.mount("/static", StaticFiles(directory=str(STATIC), check_dir=False), name="static")

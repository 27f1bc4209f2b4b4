"""The web dashboard (issue 12): server-rendered pages under /ui, same process, same tokens.

`install(app)` mounts the pages, the login, the static assets (shipped in the package:
no CDN) and the redirect of `/` to `/ui/`. See docs/dashboard.md.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["install"]

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    from fleetyard.server.web import auth, pages

    app.include_router(auth.router)
    app.include_router(pages.router)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")
    app.add_exception_handler(auth.LoginRequired, auth.login_required)

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=307)

"""The control plane server: a FastAPI app built by `create_app(settings)`.

Routes only translate HTTP to the use cases in `fleetyard.services`; nothing is
built at import time. `fleetyard server` calls `bootstrap` (migrations, first admin
token) and then runs the app with uvicorn.
"""

from __future__ import annotations

from fleetyard.server.app import create_app
from fleetyard.server.settings import Settings

__all__ = ["Settings", "create_app"]

"""Alembic environment: migrate the connection handed over by `db.engine.migrate`.

Outside fleetyard (`alembic -x url=... upgrade head` with a config whose
script_location points here) it opens the URL itself.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from fleetyard.services.db.engine import make_engine
from fleetyard.services.db.tables import Base

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


given = config.attributes.get("connection")
if given is not None:
    _run(given)
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("give the database: alembic -x url=postgresql+psycopg://... upgrade head")
    with make_engine(url).begin() as conn:
        _run(conn)

"""Who is calling, and what each role may do (docs/api.md, "Authentication and roles").

    admin     everything, including tokens
    operator  read everything; apply and delete resources; write the registry
    viewer    read everything
    agent     its own site's desired state and status; read registry objects
    scrape    only `/metrics`, on the server and on every agent (Prometheus)

Each check raises `Forbidden` naming what was needed; routes call exactly one.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleetyard.services.errors import Forbidden
from fleetyard.services.wire_base import Role

__all__ = ["LOCAL_ADMIN", "METRICS_READERS", "SCRAPERS", "Principal"]

READERS: frozenset[Role] = frozenset({"viewer", "operator", "admin"})
WRITERS: frozenset[Role] = frozenset({"operator", "admin"})
SCRAPERS: frozenset[Role] = frozenset({"scrape", "viewer", "operator", "admin"})
METRICS_READERS: frozenset[Role] = SCRAPERS | {"agent"}  # on an agent's listener: any agent token too


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: its token id, role and (agents) site."""

    token_id: str
    role: Role
    site: str | None = None

    @property
    def actor(self) -> str:
        """How the audit log names the caller, e.g. `tok_3f2a9c1d (operator)`."""
        extra = f" {self.site}" if self.site else ""
        return f"{self.token_id} ({self.role}{extra})"

    def _deny(self, needed: str) -> Forbidden:
        return Forbidden(f"token {self.token_id} has role {self.role}"
                         f"{' for site ' + self.site if self.site else ''}; this needs {needed}")

    def require_reader(self) -> None:
        """viewer, operator or admin."""
        if self.role not in READERS:
            raise self._deny("role viewer, operator or admin")

    def require_writer(self) -> None:
        """operator or admin."""
        if self.role not in WRITERS:
            raise self._deny("role operator or admin")

    def require_admin(self) -> None:
        if self.role != "admin":
            raise self._deny("role admin")

    def require_scraper(self) -> None:
        """scrape, viewer, operator or admin: the server's `/metrics`."""
        if self.role not in SCRAPERS:
            raise self._deny("role scrape, viewer, operator or admin")

    def require_site_reader(self, site: str) -> None:
        """Readers, or the agent of this site."""
        if self.role in READERS or (self.role == "agent" and self.site == site):
            return
        raise self._deny(f"role viewer, operator, admin, or agent of site {site}")

    def require_site_writer(self, site: str) -> None:
        """The agent of this site (or an admin)."""
        if self.role == "admin" or (self.role == "agent" and self.site == site):
            return
        raise self._deny(f"the agent token of site {site}")

    def require_object_reader(self) -> None:
        """Readers and agents (any site) may read registry objects."""
        if self.role not in READERS and self.role != "agent":
            raise self._deny("role viewer, operator, admin or agent")


LOCAL_ADMIN = Principal("local", "admin")  # `fleetyard token create --db URL`: direct database access

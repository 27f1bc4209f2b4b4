"""Server settings: command-line options, else `FLEETYARD_*` environment variables, else defaults.

    FLEETYARD_DATA                folder for the SQLite file and the registry
    FLEETYARD_DB                  database URL (default: sqlite:///DATA/fleetyard.db)
    FLEETYARD_REGISTRY            the registry: a folder or s3://BUCKET[/PREFIX] (default: DATA/registry;
                                  several servers of one database share it, docs/scale-out.md)
    FLEETYARD_LISTEN              HOST:PORT (default 127.0.0.1:8080)
    FLEETYARD_PUBLIC_URL          the URL agents reach the server at (default: from each request)
    FLEETYARD_HEARTBEAT_INTERVAL  seconds between agent heartbeats (stale after 3)
    FLEETYARD_ADMIN_TOKEN_FILE    where to write the first admin token as well
    FLEETYARD_PLAN_TIME_LIMIT     seconds the optimizer may take per apply
    FLEETYARD_PLAN_RESILIENCE     report N-1 resilience in each plan (true/false)
    FLEETYARD_TICK_INTERVAL       seconds between runs of the background jobs (rollouts,
                                  failover, event webhook; default 1)
    FLEETYARD_FAILOVER            move a silent site's work elsewhere (true/false; default true)
    FLEETYARD_FAILOVER_GRACE      seconds without a heartbeat before a site is unavailable (30)
    FLEETYARD_FAILOVER_HOLD_OFF   seconds a returning site must heartbeat without a miss before
                                  work moves back (300)
    FLEETYARD_DRIFT_AFTER         seconds a site may differ from its desired state before
                                  `status` flags drift (300)
    FLEETYARD_ATTESTED_CAPACITY   plan with min(declared, found) GPUs per SKU at sites whose agent
                                  reported the GPUs it found (true/false; default false;
                                  docs/attestation.md)
    FLEETYARD_TLS_CERT            serve HTTPS with this certificate (PEM, its chain after it; docs/tls.md)
    FLEETYARD_TLS_KEY             the certificate's private key (PEM)
    FLEETYARD_CLIENT_CA           ask clients for a certificate signed by this CA (mutual TLS)
    FLEETYARD_REQUIRE_CLIENT_CERT refuse connections without one (true/false; default false)
    FLEETYARD_SECRETS_KEY_FILE    the master key of Secret values (default DATA/secrets.key, made 0600 at
                                  the first start; docs/secrets.md): back it up apart from the database
    FLEETYARD_EVENT_WEBHOOK       URL every event is POSTed to as JSON (optional; docs/failover.md)
    FLEETYARD_SCHEDULE_SLOT_S     seconds per slot of the deferred-work schedule (3600; docs/energy-server.md)
    FLEETYARD_SCHEDULE_OBJECTIVE  what the schedule minimizes: cost | carbon (cost)
    FLEETYARD_SCHEDULE_EXTEND     none | repeat-daily: a trace too short for the schedule's horizon is a
                                  422 (none), or its days are repeated (none)
    FLEETYARD_TELEMETRY_RAW_RETENTION     seconds raw samples are kept once rolled up (21600 = 6 h)
    FLEETYARD_TELEMETRY_MINUTE_RETENTION  seconds 1-minute rollups are kept (604800 = 7 d)
    FLEETYARD_TELEMETRY_HOUR_RETENTION    seconds hourly rollups are kept (31536000 = 365 d;
                                          docs/telemetry.md); each at least the one before

Request body limits, in bytes, one per endpoint class (a larger body answers 413 naming
the limit; checked on Content-Length and counted while the body streams in):

    FLEETYARD_MAX_APPLY_BYTES      POST /api/v1/apply                  default 16 MiB
    FLEETYARD_MAX_OBJECT_BYTES     PUT /api/v1/registry/objects/{key}  default 256 MiB
    FLEETYARD_MAX_HEARTBEAT_BYTES  PUT /api/v1/sites/{site}/status     default 1 MiB
    FLEETYARD_MAX_JSON_BYTES       every other JSON body (tokens)      default 64 KiB

A fleet of thousands of resources is a few MB of YAML, and a year of an hourly energy
trace ~0.3 MB (16 MiB admit ~50 distinct year-long traces besides the YAML; sites
on one grid share a trace, which travels once); a registry pack is ~32 MiB
(registry/packs.py) and a version's recipe of a 100 GB model some tens of MB; a
heartbeat is a few kB.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fleetyard.services.telemetry.retention import Retention

__all__ = ["KIB", "MIB", "Settings", "default_data_dir"]

KIB = 1024
MIB = 1024 * KIB


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "fleetyard" / "server"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLEETYARD_", extra="ignore")

    data: Path = Field(default_factory=default_data_dir)
    db: str | None = None
    # the registry: a folder or s3://BUCKET[/PREFIX]; several servers share one (docs/scale-out.md)
    registry: str | None = None
    listen: str = "127.0.0.1:8080"
    public_url: str | None = None
    heartbeat_interval: float = Field(default=5.0, gt=0)
    admin_token_file: Path | None = None
    plan_time_limit: float = Field(default=60.0, gt=0)
    plan_resilience: bool = True
    tick_interval: float = Field(default=1.0, gt=0, le=60)
    heartbeat_batch: int = Field(default=64, ge=1, le=1000)  # reports per commit (server/heartbeats.py); 1: off
    log_level: str = "info"
    failover: bool = True
    failover_grace: float = Field(default=30.0, gt=0, le=86_400)
    failover_hold_off: float = Field(default=300.0, ge=0, le=86_400)
    drift_after: float = Field(default=300.0, ge=0, le=86_400 * 7)
    attested_capacity: bool = False
    event_webhook: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    client_ca: Path | None = None
    require_client_cert: bool = False
    secrets_key_file: Path | None = None
    schedule_slot_s: float = Field(default=3600.0, ge=1, le=86_400)
    schedule_objective: Literal["cost", "carbon"] = "cost"
    schedule_extend: Literal["none", "repeat-daily"] = "none"
    max_apply_bytes: int = Field(default=16 * MIB, gt=0)
    max_object_bytes: int = Field(default=256 * MIB, gt=0)
    max_heartbeat_bytes: int = Field(default=1 * MIB, gt=0)
    max_json_bytes: int = Field(default=64 * KIB, gt=0)
    telemetry_raw_retention: float = Field(default=6 * 3600.0, ge=600, le=86_400 * 30)
    telemetry_minute_retention: float = Field(default=7 * 86_400.0, ge=3600, le=86_400 * 366)
    telemetry_hour_retention: float = Field(default=365 * 86_400.0, ge=86_400, le=86_400 * 3660)

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"expected HOST:PORT, e.g. 127.0.0.1:8080, got {value!r}")
        return value

    @field_validator("event_webhook")
    @classmethod
    def _webhook(cls, value: str | None) -> str | None:
        if value is not None and value.strip() == "":
            return None
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value

    @model_validator(mode="after")
    def _tls(self) -> Settings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("--tls-cert and --tls-key go together: expected both, got only "
                             + ("--tls-cert" if self.tls_cert else "--tls-key"))
        if self.client_ca is not None and self.tls_cert is None:
            raise ValueError("--client-ca needs --tls-cert and --tls-key (mutual TLS is TLS first)")
        if self.require_client_cert and self.client_ca is None:
            raise ValueError("--require-client-cert needs --client-ca (the CA client certificates must chain to)")
        return self

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @model_validator(mode="after")
    def _retentions(self) -> Settings:
        if not self.telemetry_raw_retention <= self.telemetry_minute_retention <= self.telemetry_hour_retention:
            raise ValueError("telemetry retentions must grow: raw <= minute <= hour, got "
                             f"{self.telemetry_raw_retention:g} s, {self.telemetry_minute_retention:g} s, "
                             f"{self.telemetry_hour_retention:g} s")
        return self

    @property
    def retention(self) -> Retention:
        return Retention(raw=timedelta(seconds=self.telemetry_raw_retention),
                         minute=timedelta(seconds=self.telemetry_minute_retention),
                         hour=timedelta(seconds=self.telemetry_hour_retention))

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @property
    def db_url(self) -> str:
        return self.db or f"sqlite:///{(self.data / 'fleetyard.db').expanduser().absolute()}"

    @property
    def secrets_key_path(self) -> Path:
        """The master key of Secret values: the one given, else DATA/secrets.key."""
        return Path(self.secrets_key_file or self.data / "secrets.key").expanduser().absolute()

    @property
    def registry_path(self) -> Path | str:
        if self.registry and self.registry.startswith("s3://"):
            return self.registry
        return Path(self.registry or self.data / "registry").expanduser().absolute()

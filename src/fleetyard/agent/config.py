"""The agent's settings, checked up front so a mistake is one clear line, not a traceback."""

from __future__ import annotations

import fcntl
import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TextIO
from urllib.parse import urlsplit

from fleetyard.registry import InvalidInputError, SigningKeyError
from fleetyard.registry.policy import ProvenancePolicy, parse_policy
from fleetyard.registry.signing import check_public_key
from fleetyard.services.tls import ClientTLS, TLSConfigError

__all__ = ["AgentConfig", "ConfigError", "lock_data_dir", "parse_listen"]

RuntimeName = Literal["process", "kubernetes"]
TEST_CLOCK_ENV = "FLEETYARD_TEST_CLOCK"


class ConfigError(ValueError):
    """A setting is wrong; the message says which and what was expected."""


def lock_data_dir(data_dir: Path) -> TextIO:
    """Hold `data_dir/agent.lock` for the life of the process (two agents on one folder
    would corrupt each other's state); ConfigError naming the holder if it is taken."""
    path = data_dir / "agent.lock"
    f = open(path, "a+", encoding="utf-8")  # held open (and locked) until the process exits
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.seek(0)
        holder = f.read().strip() or "unknown"
        f.close()
        raise ConfigError(f"--data-dir {data_dir} is in use by another fleetyard agent (pid {holder})") from None
    f.seek(0)
    f.truncate()
    f.write(str(os.getpid()))
    f.flush()
    return f


def parse_listen(text: str) -> tuple[str, int]:
    """"HOST:PORT" (IPv6 as [::1]:PORT) to (host, port)."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"--listen {text!r}: expected HOST:PORT, e.g. 0.0.0.0:9400 or 127.0.0.1:9400")
    return host, int(port)


@dataclass(frozen=True)
class AgentConfig:
    """Everything `fleetyard agent` was told."""

    site: str
    server: str
    token: str
    data_dir: Path
    trust_keys: tuple[Path, ...]
    max_mbps: float | None = None
    listen: tuple[str, int] | None = None
    advertise_url: str | None = None
    runtime: RuntimeName = "process"
    kubeconfig: Path | None = None
    in_cluster: bool = False  # the agent runs in a pod: the service account's token and CA
    model_pvc: str | None = None  # a claim holding the data dir: models mounted from it (docs/kubernetes.md)
    namespace: str = "default"
    image: str = "python:3.11-slim"
    heartbeat: float = 5.0
    connect_timeout: float = 15.0
    relay_wait: float = 10.0
    extra: dict[str, str] = field(default_factory=dict)
    flags_listen: tuple[str, int] | None = None  # issue 10: where the OFREP listener serves flags (agent/ofrep.py)
    # issue 12 (docs/telemetry-agent.md): a DCGM exporter's Prometheus text URL, and how many
    # telemetry samples wait for the server at most (None: 24 hours at the heartbeat interval)
    dcgm_url: str | None = None
    sample_buffer: int | None = None
    site_policy: Path | None = None  # issue 14: provenance policy file (docs/provenance.md)
    # issue 14 (docs/attestation.md): a file of nvidia-smi inventory CSV to read instead of asking
    # nvidia-smi or rocm-smi, and seconds between probes of the GPUs present
    inventory_probe: Path | None = None
    inventory_every: float = 60.0
    site_key: Path | None = None  # issue 14: X25519 private key that opens encrypted models (docs/encryption.md)

    def provenance_policy(self) -> ProvenancePolicy:
        """The site's provenance policy (`--site-policy`); the empty policy without one."""
        if self.site_policy is None:
            return ProvenancePolicy()
        import yaml

        try:
            doc = yaml.safe_load(self.site_policy.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"--site-policy {self.site_policy}: cannot read it ({exc.strerror or exc})") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"--site-policy {self.site_policy}: not YAML: {exc}") from None
        try:
            return parse_policy(doc, self.site_policy)
        except InvalidInputError as exc:
            raise ConfigError(f"--site-policy {exc}") from None
    # issue 14 (docs/tls.md): the CA bundle the server must chain to, and the site's client certificate
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None

    @property
    def tls(self) -> ClientTLS:
        return ClientTLS(ca=self.ca, cert=self.cert, key=self.key)

    @property
    def flags_file(self) -> Path:
        """The last flags received, for a restart without the server."""
        return self.data_dir / "state" / "flags.json"

    def check(self) -> None:
        """Raise ConfigError naming the first wrong setting."""
        if not self.site:
            raise ConfigError("--site is empty: expected the name of this site as applied to the server")
        u = urlsplit(self.server)
        if u.scheme not in ("http", "https") or not u.netloc:
            raise ConfigError(f"--server {self.server!r}: expected a URL such as http://controlplane:8080")
        if not self.token:
            raise ConfigError("--token is empty: expected an agent token for this site (fleetyard token create)")
        try:
            self.tls.verify()
        except TLSConfigError as exc:
            raise ConfigError(str(exc)) from None
        if not self.trust_keys:
            raise ConfigError("no --trust-key given: a site only runs models signed by a key it trusts")
        for key in self.trust_keys:
            try:
                check_public_key(key)
            except SigningKeyError as exc:
                raise ConfigError(f"--trust-key: {exc}") from None
        if self.site_key is not None:
            from fleetyard.registry.sealing import SiteKey

            try:
                SiteKey.load(self.site_key)
            except InvalidInputError as exc:
                raise ConfigError(f"--site-key: {exc}") from None
        if self.max_mbps is not None and self.max_mbps <= 0:
            raise ConfigError(f"--max-mbps must be positive, got {self.max_mbps}")
        if self.relay_wait < 0:
            raise ConfigError(f"--relay-wait must be zero or positive seconds, got {self.relay_wait}")
        if self.heartbeat <= 0:
            raise ConfigError(f"--heartbeat must be positive seconds, got {self.heartbeat}")
        if self.runtime == "kubernetes" and self.kubeconfig is not None and not self.kubeconfig.is_file():
            raise ConfigError(f"--kubeconfig {self.kubeconfig} does not exist")
        if self.in_cluster and self.kubeconfig is not None:
            raise ConfigError("--in-cluster and --kubeconfig: give one of them")
        if self.model_pvc is not None and not re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", self.model_pvc):
            raise ConfigError(f"--model-pvc {self.model_pvc!r}: expected a PersistentVolumeClaim name "
                              "(lowercase letters, digits, '-' and '.')")
        if self.dcgm_url is not None and (urlsplit(self.dcgm_url).scheme not in ("http", "https")
                                          or not urlsplit(self.dcgm_url).netloc):
            raise ConfigError(f"--dcgm-url {self.dcgm_url!r}: expected a URL such as http://127.0.0.1:9400/metrics")
        if self.sample_buffer is not None and self.sample_buffer < 1:
            raise ConfigError(f"--sample-buffer must be at least 1 sample, got {self.sample_buffer}")
        self.provenance_policy()
        if self.inventory_probe is not None and not self.inventory_probe.is_file():
            raise ConfigError(f"--inventory-probe {self.inventory_probe}: no such file (expected nvidia-smi "
                              "--query-gpu=name,memory.total,uuid --format=csv,noheader,nounits output)")
        if not 0 < self.inventory_every <= 86_400:
            raise ConfigError(f"--inventory-every must be 0 < seconds <= 86400, got {self.inventory_every}")
        if self.advertise_url is not None and urlsplit(self.advertise_url).scheme not in ("http", "https"):
            raise ConfigError(f"--advertise-url {self.advertise_url!r}: expected http://HOST:PORT")
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--data-dir {self.data_dir}: cannot create it ({exc.strerror or exc})") from None
        if not os.access(self.data_dir, os.W_OK):
            raise ConfigError(f"--data-dir {self.data_dir}: not writable")

    @property
    def peer_url(self) -> str | None:
        """Where peers reach this agent's relay, if it listens."""
        if self.advertise_url:
            return self.advertise_url.rstrip("/")
        if self.listen is None:
            return None
        host, port = self.listen
        if host in ("0.0.0.0", "::", ""):
            host = socket.getfqdn()  # a wildcard is no address for peers: this host's name
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

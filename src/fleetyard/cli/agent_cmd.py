"""`fleetyard agent`: run a site's agent until SIGTERM or Ctrl-C.

    fleetyard agent --site fra-1 --server https://cp:8080 --token-file agent.token --data-dir /var/lib/fleetyard \\
        [--ca ca.crt --cert fra-1.crt --key fra-1.key] \\
        --trust-key release.pub [--trust-key ...] [--max-mbps 200] [--listen 0.0.0.0:9400] \\
        [--runtime process|kubernetes] [--kubeconfig PATH] [--heartbeat 5] [--relay-wait 10] \\
        [--flags-listen 127.0.0.1:8016] [--dcgm-url http://127.0.0.1:9400/metrics] [--sample-buffer N]

A mistake (a bad flag, a missing key file, an unreachable server, a refused token, a
site the server does not know) is one line on stderr and exit 2 (1 for a server that
cannot be reached, unless the agent kept a desired state from an earlier run: then it
starts that one, fail static). See docs/agent.md and docs/failover.md.

For tests only: FLEETYARD_TEST_CLOCK=FILE makes the agent read the wall-clock time
for sync windows from FILE (an ISO 8601 timestamp the test rewrites).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from fleetyard.cli.common import EXIT_ERROR, EXIT_INVALID, err, fail

if TYPE_CHECKING:  # the agent's modules load when the command runs, not with every CLI call
    from fleetyard.agent.config import AgentConfig
    from fleetyard.agent.controlplane import HttpControlPlane
    from fleetyard.services.wire import DesiredState

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    app.command("agent")(agent)


def _connect(control: HttpControlPlane, config: AgentConfig) -> tuple[DesiredState | None, bool]:
    """The first desired state, retried while the server is unreachable (bounded); then the
    one kept on disk, if any (fail static: True), so a restart without the server runs it;
    else (None, False) when flags saved by an earlier run can be served meanwhile."""
    from fleetyard.agent.failstatic import FailStatic
    from fleetyard.agent.metrics import AgentMetrics
    from fleetyard.agent.ofrep import saved_flags
    from fleetyard.services.client import ApiError, TLSError

    deadline = time.monotonic() + config.connect_timeout
    while True:
        try:
            return control.desired(config.site), False
        except ApiError as exc:
            if isinstance(exc, TLSError):  # a wrong CA or certificate does not fix itself: no retries
                fail(f"fleetyard agent {config.site}: refused the control plane at {config.server}: "
                     f"{exc.message}")
            if exc.status == 0 and time.monotonic() < deadline:
                time.sleep(0.5)
                continue
            kept = FailStatic(config.data_dir / "state", AgentMetrics(), site=config.site).load() \
                if exc.status == 0 else None
            if kept is not None:
                return kept, True
            if exc.status == 0 and config.flags_listen is not None and saved_flags(config.flags_file):
                err.print(f"fleetyard agent {config.site}: cannot reach the control plane at {config.server} "
                          f"({exc.message}); serving the flags saved by the last run and retrying", highlight=False)
                return None, False
            if exc.status == 0:
                fail(f"cannot reach the control plane at {config.server}: {exc.message}", EXIT_ERROR)
            if exc.status == 401:
                fail(f"the control plane at {config.server} refused the token (401): check --token")
            if exc.status == 403 and "client certificate" in exc.message:
                fail(f"fleetyard agent {config.site}: the control plane refused this site's certificate: "
                     f"{exc.detail} (403)")
            if exc.status == 403:
                fail(f"the token is not an agent token of site '{config.site}' (403): {exc.message}")
            if exc.status == 404:
                fail(f"site '{config.site}' is not known to the control plane at {config.server} "
                     f"(apply a Site named '{config.site}' first)")
            fail(f"the control plane at {config.server} answered: {exc.message}", EXIT_ERROR)


def agent(
    site: Annotated[str, typer.Option("--site", envvar="FLEETYARD_SITE", help="This site's name.")],
    server: Annotated[str, typer.Option("--server", envvar="FLEETYARD_SERVER", help="Control plane URL.")],
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Where models, chunks and state live.")],
    trust_key: Annotated[list[Path], typer.Option("--trust-key", help="Public key (PEM) whose signatures this "
                                                  "site accepts; repeatable.", show_default=False)],
    max_mbps: Annotated[float | None, typer.Option("--max-mbps", help="Download cap, megabits/s.")] = None,
    listen: Annotated[str | None, typer.Option("--listen", help="HOST:PORT to serve chunks to peers "
                                               "(relay) and /metrics.")] = None,
    advertise_url: Annotated[str | None, typer.Option("--advertise-url", help="URL peers use to reach "
                                                      "--listen (default: from --listen).")] = None,
    runtime: Annotated[str, typer.Option("--runtime", help="process or kubernetes.")] = "process",
    kubeconfig: Annotated[Path | None, typer.Option("--kubeconfig", help="Server-side apply Deployments and "
                                                    "Services with this kubeconfig (kubernetes runtime).")] = None,
    in_cluster: Annotated[bool, typer.Option("--in-cluster", help="Use the pod's service account "
                                             "(kubernetes runtime).")] = False,
    model_pvc: Annotated[str | None, typer.Option("--model-pvc", help="PersistentVolumeClaim holding the data "
                                                  "dir: pods mount models from it (kubernetes runtime).")] = None,
    namespace: Annotated[str, typer.Option("--namespace", help="Kubernetes namespace.")] = "default",
    image: Annotated[str, typer.Option("--image", help="Container image (kubernetes runtime) unless a "
                                       "workload sets FLEETYARD_IMAGE.")] = "python:3.11-slim",
    heartbeat: Annotated[float, typer.Option("--heartbeat", help="Seconds between status reports.")] = 5.0,
    connect_timeout: Annotated[float, typer.Option("--connect-timeout", help="Seconds to wait for the control "
                                                   "plane at start-up.")] = 15.0,
    relay_wait: Annotated[float, typer.Option("--relay-wait", help="Seconds a version new everywhere may wait "
                                              "for a peer before it is fetched from the center (0: never).")] = 10.0,
    flags_listen: Annotated[str | None, typer.Option("--flags-listen", envvar="FLEETYARD_FLAGS_LISTEN",
                                                     help="HOST:PORT to serve feature flags over OFREP "
                                                     "(docs/flags.md).")] = None,
    dcgm_url: Annotated[str | None, typer.Option("--dcgm-url", envvar="FLEETYARD_DCGM_URL",
                                                 help="A DCGM exporter's /metrics URL for GPU readings "
                                                 "(docs/telemetry-agent.md).")] = None,
    sample_buffer: Annotated[int | None, typer.Option("--sample-buffer", help="Telemetry samples kept "
                                                      "while the server is away (default: 24 h of "
                                                      "heartbeats).")] = None,
    site_policy: Annotated[Path | None, typer.Option("--site-policy", envvar="FLEETYARD_SITE_POLICY",
                                                     help="YAML provenance policy: required signers, allowed "
                                                     "datasets (docs/provenance.md).")] = None,
    inventory_probe: Annotated[Path | None, typer.Option(
        "--inventory-probe", envvar="FLEETYARD_INVENTORY_PROBE", show_default=False,
        help="Read the GPUs present from this file (nvidia-smi --query-gpu=name,memory.total,uuid "
             "--format=csv,noheader,nounits output) instead of nvidia-smi/rocm-smi (docs/attestation.md).")] = None,
    inventory_every: Annotated[float, typer.Option("--inventory-every", help="Seconds between probes of the "
                                                   "GPUs present.")] = 60.0,
    token: Annotated[str | None, typer.Option("--token", envvar="FLEETYARD_TOKEN", show_default=False,
                                              help="Agent token of this site (better: --token-file).")] = None,
    token_file: Annotated[Path | None, typer.Option("--token-file", envvar="FLEETYARD_TOKEN_FILE",
                                                    show_default=False, help="Read the agent token from this "
                                                    "file (not shown in process listings).")] = None,
    ca: Annotated[Path | None, typer.Option("--ca", envvar="FLEETYARD_CA", show_default=False,
                                            help="Verify the https:// server against this CA bundle (PEM).")]
    = None,
    cert: Annotated[Path | None, typer.Option("--cert", envvar="FLEETYARD_CERT", show_default=False,
                                              help="This site's client certificate (PEM; mutual TLS, "
                                              "fleetyard pki site-cert).")] = None,
    key: Annotated[Path | None, typer.Option("--key", envvar="FLEETYARD_KEY", show_default=False,
                                             help="Private key (PEM) of --cert.")] = None,
    site_key: Annotated[Path | None, typer.Option("--site-key", envvar="FLEETYARD_SITE_KEY",
                                                  help="This site's X25519 private key (NAME.site.pem): opens "
                                                  "encrypted models (docs/encryption.md).")] = None,
) -> None:
    """Run this site's agent: sync models, verify, activate, run workloads, report."""
    from fleetyard.agent.config import AgentConfig, ConfigError, RuntimeName, lock_data_dir, parse_listen

    if runtime not in ("process", "kubernetes"):
        fail(f"--runtime: expected process or kubernetes, got '{runtime}'")
    rt: RuntimeName = "kubernetes" if runtime == "kubernetes" else "process"
    try:
        config = AgentConfig(site=site, server=server, token=_token(token, token_file), data_dir=data_dir,
                             trust_keys=tuple(trust_key), max_mbps=max_mbps,
                             listen=parse_listen(listen) if listen else None, advertise_url=advertise_url,
                             runtime=rt, kubeconfig=kubeconfig, in_cluster=in_cluster, model_pvc=model_pvc,
                             namespace=namespace, image=image,
                             heartbeat=heartbeat, connect_timeout=connect_timeout, relay_wait=relay_wait,
                             flags_listen=_listen("--flags-listen", flags_listen), dcgm_url=dcgm_url,
                             sample_buffer=sample_buffer, site_policy=site_policy,
                             inventory_probe=inventory_probe, inventory_every=inventory_every,
                             ca=ca, cert=cert, key=key, site_key=site_key)
        config.check()
        lock = lock_data_dir(config.data_dir)
    except ConfigError as exc:
        fail(str(exc), EXIT_INVALID)
    try:
        _serve(config)
    finally:
        lock.close()
    sys.stderr.flush()


def _token(token: str | None, token_file: Path | None) -> str:
    """--token, else the first line of --token-file; neither is a ConfigError."""
    from fleetyard.agent.config import ConfigError

    if token:
        return token
    if token_file is None:
        raise ConfigError("no token: expected --token-file FILE (or --token, FLEETYARD_TOKEN) with this "
                          "site's agent token (fleetyard token create --role agent --site SITE)")
    try:
        text = token_file.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--token-file {token_file}: cannot read it: "
                          f"{getattr(exc, 'strerror', None) or exc}") from None
    if not text:
        raise ConfigError(f"--token-file {token_file}: the file is empty; expected an agent token")
    return text


def _listen(option: str, text: str | None) -> tuple[str, int] | None:
    from fleetyard.agent.config import ConfigError, parse_listen

    try:
        return parse_listen(text) if text else None
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("--listen", option, 1)) from None


def _serve(config: AgentConfig) -> None:
    """Connect, start the agent and run it until SIGTERM or Ctrl-C (the data dir is locked)."""
    from fleetyard.agent.config import TEST_CLOCK_ENV
    from fleetyard.agent.controlplane import HttpControlPlane
    from fleetyard.agent.loop import Agent
    from fleetyard.replication import Clock, FileClock, SystemClock

    clock: Clock = FileClock(os.environ[TEST_CLOCK_ENV]) if os.environ.get(TEST_CLOCK_ENV) else SystemClock()
    control = HttpControlPlane(config.server, config.token, tls=config.tls)
    try:
        desired, kept = _connect(control, config)
        node = Agent(config, control, clock=clock)
    except OSError as exc:
        control.close()
        where = ", ".join(f"{a[0]}:{a[1]}" for a in (config.listen, config.flags_listen) if a) or str(config.data_dir)
        fail(f"cannot start the agent ({where}): {exc.strerror or exc}", EXIT_ERROR)
    except BaseException:
        control.close()
        raise
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    node.start(desired, kept=kept)
    relay = node.report().peer_url
    err.print(f"fleetyard agent {config.site}: control plane {config.server}, data {config.data_dir}, "
              f"runtime {config.runtime}" + (f", relay {relay}" if relay else "")
              + (f", flags {node.ofrep.url}" if node.ofrep else ""), highlight=False)
    try:
        node.run(stop)
    finally:
        node.shutdown()

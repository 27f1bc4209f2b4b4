"""The kubernetes runtime with `secret_env` (docs/secrets.md): a Kubernetes Secret and
`secretKeyRef`s, validated against Kubernetes 1.30; server-side applied through the official
client to the loopback API server (tests/agent/kube_api.py); never a value in the Deployment
or in the workload's rendered file."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import kubernetes_validate
import pytest

from fleetyard.agent.runtime import KubernetesRuntime, WorkloadRun, render_deployment
from fleetyard.agent.runtime.k8s_objects import render_secret
from tests.agent.kube_api import KubeApiServer
from tests.secrets.fleet import TOKEN

KUBERNETES = "1.30.0"


def run(model_dir: Path, token: str = TOKEN, digest: str = "OPENAI_API_KEY=0a1b2c3d4e5f") -> WorkloadRun:
    return WorkloadRun(name="chat", model_ref="tiny:1", model_dir=model_dir, replicas=1, command=("python", "-m", "x"),
                       env=(("MODE", "chat"),), gpu_sku="L4", gpus_per_replica=1,
                       secret_env=(("OPENAI_API_KEY", token),), secret_digest=digest)


def test_secret_and_secret_key_refs_validate_and_hold_no_value_in_the_deployment(tmp_path: Path) -> None:
    r = run(tmp_path / "m")
    assert TOKEN not in repr(r)
    dep = render_deployment(r, site="fra-1", namespace="ai")
    secret = render_secret(r, site="fra-1", namespace="ai")
    assert secret is not None
    for doc in (dep, secret):
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)
    assert TOKEN not in json.dumps(dep)
    env = dep["spec"]["template"]["spec"]["containers"][0]["env"]
    ref = {"secretKeyRef": {"name": "chat-env", "key": "OPENAI_API_KEY"}}
    assert {"name": "OPENAI_API_KEY", "valueFrom": ref} in env
    assert {"name": "MODE", "value": "chat"} in env
    assert base64.b64decode(secret["data"]["OPENAI_API_KEY"]).decode() == TOKEN
    assert dep["spec"]["template"]["metadata"]["annotations"]["fleetyard.io/secret-digest"] == r.secret_digest
    assert render_secret(WorkloadRun(name="x", model_ref="m:1", model_dir=tmp_path, replicas=1), site="s") is None


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[KubeApiServer, Path]]:
    api = KubeApiServer()
    try:
        yield api, api.kubeconfig(tmp_path / "kubeconfig")
    finally:
        api.close()


def test_applied_before_the_deployment_changed_with_the_value_and_deleted_with_it(
        cluster: tuple[KubeApiServer, Path], tmp_path: Path) -> None:
    api, kubeconfig = cluster
    rt = KubernetesRuntime(tmp_path / "d", site="fra-1", kubeconfig=kubeconfig, watch_seconds=2)
    try:
        rt.apply([run(tmp_path / "m")])
        assert [p for p, _, _ in api.applies] == ["secrets", "deployments", "services"]
        stored = api.objects[("secrets", "default", "chat-env")]
        assert base64.b64decode(stored["data"]["OPENAI_API_KEY"]).decode() == TOKEN
        assert not any(TOKEN.encode() in p.read_bytes() for p in (tmp_path / "d").rglob("*") if p.is_file())
        rt.apply([run(tmp_path / "m", TOKEN + "-v2", "OPENAI_API_KEY=ffffffffffff")])  # a new value rolls the pods
        dep = api.objects[("deployments", "default", "chat")]
        assert dep["spec"]["template"]["metadata"]["annotations"]["fleetyard.io/secret-digest"].endswith("ffff")
        new = api.objects[("secrets", "default", "chat-env")]["data"]["OPENAI_API_KEY"]
        assert base64.b64decode(new).decode() == TOKEN + "-v2"
        rt.apply([])
        assert api.objects == {}
    finally:
        rt.stop()


def test_without_an_api_server_the_secret_is_rendered_apart_and_private(tmp_path: Path) -> None:
    rt = KubernetesRuntime(tmp_path / "d", site="fra-1")
    rt.apply([run(tmp_path / "m")])
    main, private = tmp_path / "d" / "kubernetes" / "chat.yaml", tmp_path / "d" / "kubernetes" / "chat.secret.yaml"
    assert TOKEN.encode() not in main.read_bytes() and b"secretKeyRef" in main.read_bytes()
    assert private.stat().st_mode & 0o777 == 0o600
    assert base64.b64encode(TOKEN.encode()) in private.read_bytes()
    rt.apply([])
    assert not private.exists()


def test_export_refers_to_a_kubernetes_secret_and_never_holds_the_value(tmp_path: Path) -> None:
    import yaml

    from fleetyard.export.manifests import _env
    from fleetyard.spec import load_fleet
    from tests.secrets.fleet import fleet_docs, secret

    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump_all([*fleet_docs(), secret("openai", {"token": TOKEN})]))
    chat = load_fleet([path]).fleet.workloads["chat"]
    env = _env("chat", chat.spec, "fra-1")
    assert {"name": "OPENAI_API_KEY", "valueFrom": {"secretKeyRef": {"name": "openai", "key": "token"}}} in env
    assert TOKEN not in json.dumps(env)

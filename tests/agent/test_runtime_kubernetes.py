"""The kubernetes runtime (issue 13): manifests that run - validated against Kubernetes 1.30 -
and the official client's server-side apply and watch against a loopback API server
(tests/agent/kube_api.py: no kube-apiserver can run on this machine)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from fleetyard.agent.runtime import KubernetesRuntime, WorkloadRun, render_deployment, render_service
from fleetyard.spec.rollout import ProbeSpec
from tests.agent.kube_api import KubeApiServer

KUBERNETES = "1.30.0"
PROBE = ProbeSpec(http="/healthz", timeout_s=2.0, period_s=5.0)


def run(model_dir: Path, **kw: object) -> WorkloadRun:
    args: dict[str, object] = {
        "name": "support-chat-eu", "model_ref": "support-llm:3", "model_dir": model_dir, "replicas": 2,
        "command": ("python", "-m", "server"), "env": (("LOG_LEVEL", "info"), ("FLEETYARD_IMAGE", "reg/chat:1.2")),
        "gpu_sku": "H100-SXM", "gpus_per_replica": 1, "probe": PROBE,
    }
    args.update(kw)
    return WorkloadRun(**args)  # type: ignore[arg-type]


def wait(cond: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


SHAPES = {
    "nvidia-probe": {},
    "amd": {"gpu_sku": "MI300X", "gpus_per_replica": 8},
    "no-probe": {"probe": None, "max_unavailable": 3},
    "cpu-only": {"gpus_per_replica": 0, "gpu_sku": "", "command": None, "env": ()},
    "odd-name": {"name": "Chat_EU.v2", "env": (("A", "1"),)},
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("pvc", [None, "fleetyard-data"])
def test_every_manifest_validates_and_carries_what_a_pod_needs(tmp_path: Path, shape: str, pvc: str | None) -> None:
    r = run(tmp_path / "models" / "support-llm" / "3", **SHAPES[shape])
    dep = render_deployment(r, site="fra-1", namespace="ai", data_dir=tmp_path, model_pvc=pvc)
    svc = render_service(r, site="fra-1", namespace="ai")
    for doc in (dep, svc):
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in c["env"]}
    assert {"FLEETYARD_MODEL_DIR", "FLEETYARD_MODEL", "FLEETYARD_WORKLOAD", "FLEETYARD_SITE", "FLEETYARD_PORT",
            "FLEETYARD_REPLICA"} <= set(env) and env["FLEETYARD_PORT"] == "8080"
    assert "FLEETYARD_IMAGE" not in env and env["FLEETYARD_WORKLOAD"] == r.name
    assert dep["spec"]["selector"]["matchLabels"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
    assert svc["spec"]["ports"][0]["targetPort"] == "http"
    if r.gpus_per_replica:
        resource = "amd.com/gpu" if r.gpu_sku == "MI300X" else "nvidia.com/gpu"
        assert c["resources"] == {"limits": {resource: r.gpus_per_replica}, "requests": {resource: r.gpus_per_replica}}
        key = "amd.com/gpu.product-name" if r.gpu_sku == "MI300X" else "nvidia.com/gpu.product"
        assert set(pod["nodeSelector"]) == {key}
    else:
        assert "resources" not in c and "nodeSelector" not in pod
    if r.probe is not None:
        assert c["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert c["livenessProbe"]["failureThreshold"] == 3 and c["readinessProbe"]["periodSeconds"] == 5
        assert dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    else:
        assert "readinessProbe" not in c and "strategy" not in dep["spec"]
    (vol,) = pod["volumes"]
    (mount,) = c["volumeMounts"]
    assert mount["readOnly"] is True and mount["mountPath"] == "/models/support-llm"
    if pvc:
        assert vol["persistentVolumeClaim"] == {"claimName": pvc, "readOnly": True}
        assert mount["subPath"] == "models/support-llm/3"
    else:
        assert vol["hostPath"]["path"] == str(r.model_dir)


def test_rendered_files_have_no_anchors_and_the_same_bytes_twice(tmp_path: Path) -> None:
    rt = KubernetesRuntime(tmp_path / "d1", site="fra-1")
    rt.apply([run(tmp_path / "m")])
    path = tmp_path / "d1" / "kubernetes" / "support-chat-eu.yaml"
    first = path.read_bytes()
    docs = list(yaml.safe_load_all(first))
    assert [d["kind"] for d in docs] == ["Deployment", "Service"]
    assert b"&id" not in first and b"*id" not in first
    st = rt.status()["support-chat-eu"]
    assert (st.desired, st.running) == (2, 0) and st.error is not None and "not applied" in st.error
    KubernetesRuntime(tmp_path / "d2", site="fra-1").apply([run(tmp_path / "m")])
    assert (tmp_path / "d2" / "kubernetes" / "support-chat-eu.yaml").read_bytes() == first
    rt.apply([])
    assert not path.exists()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[KubeApiServer, Path]]:
    api = KubeApiServer()
    try:
        yield api, api.kubeconfig(tmp_path / "kubeconfig")
    finally:
        api.close()


def test_server_side_apply_watch_and_delete(cluster: tuple[KubeApiServer, Path], tmp_path: Path) -> None:
    api, kubeconfig = cluster
    rt = KubernetesRuntime(tmp_path / "d", site="fra-1", kubeconfig=kubeconfig, watch_seconds=2)
    try:
        rt.apply([run(tmp_path / "m")])
        assert set(api.objects) == {("deployments", "default", "support-chat-eu"),
                                    ("services", "default", "support-chat-eu")}
        assert all(m == "fleetyard" for _, _, m in api.applies)
        rt.apply([run(tmp_path / "m")])  # unchanged: nothing sent again
        assert len(api.applies) == 2
        wait(lambda: rt.watch_rounds >= 1, "the watcher's first list")
        api.set_status("support-chat-eu", replicas=3, readyReplicas=2, updatedReplicas=1)
        c = wait(lambda: (s := rt.status()["support-chat-eu"]).running == 3 and s, "the watch event")
        assert (c.healthy, c.model_running, c.model_ready, c.switching, c.error) == (2, 1, 0, 2, None)
        api.set_status("support-chat-eu", replicas=2, readyReplicas=2, updatedReplicas=2)
        c = wait(lambda: (s := rt.status()["support-chat-eu"]).switching == 0 and s.model_ready == 2 and s,
                 "the rollout done")
        rt.apply([run(tmp_path / "m", replicas=5)])
        assert api.objects[("deployments", "default", "support-chat-eu")]["spec"]["replicas"] == 5
        rt.apply([])
        assert api.objects == {}
        wait(lambda: rt.status() == {}, "the workload gone")
    finally:
        rt.stop()


def test_a_rejected_manifest_reports_the_api_message_and_keeps_the_previous(cluster: tuple[KubeApiServer, Path],
                                                                              tmp_path: Path) -> None:
    api, kubeconfig = cluster
    rt = KubernetesRuntime(tmp_path / "d", site="fra-1", kubeconfig=kubeconfig, watch_seconds=2)
    try:
        rt.apply([run(tmp_path / "m")])
        path = tmp_path / "d" / "kubernetes" / "support-chat-eu.yaml"
        good = path.read_bytes()
        rt.apply([run(tmp_path / "m", env=(("RETRIES", 3),))])  # not a string: the API server refuses it
        st = rt.status()["support-chat-eu"]
        assert st.error is not None and "the Kubernetes API refused support-chat-eu" in st.error
        assert "is invalid" in st.error and "env" in st.error and "previous Deployment keeps running" in st.error
        assert api.objects[("deployments", "default", "support-chat-eu")]["spec"]["replicas"] == 2
        assert path.read_bytes() == good
        rt.apply([run(tmp_path / "m", replicas=3)])
        assert rt.status()["support-chat-eu"].error is None
        assert api.objects[("deployments", "default", "support-chat-eu")]["spec"]["replicas"] == 3
    finally:
        rt.stop()


def test_an_unreachable_api_server_is_an_error_per_workload(tmp_path: Path) -> None:
    api = KubeApiServer()
    kubeconfig = api.kubeconfig(tmp_path / "kubeconfig")
    api.close()
    rt = KubernetesRuntime(tmp_path / "d", site="fra-1", kubeconfig=kubeconfig, watch_seconds=1)
    try:
        rt.apply([run(tmp_path / "m")])
        st = rt.status()["support-chat-eu"]
        assert st.error is not None and "cannot reach the Kubernetes API server" in st.error
        assert not (tmp_path / "d" / "kubernetes" / "support-chat-eu.yaml").exists()
    finally:
        rt.stop()


def test_a_broken_kubeconfig_is_reported_not_raised(tmp_path: Path) -> None:
    bad = tmp_path / "kubeconfig"
    bad.write_text("apiVersion: v1\nkind: Config\n")
    rt = KubernetesRuntime(tmp_path / "d", site="fra-1", kubeconfig=bad)
    rt.apply([run(tmp_path / "m")])
    st = rt.status()["support-chat-eu"]
    assert st.error is not None and "cannot use the kubeconfig" in st.error
    rt.stop()

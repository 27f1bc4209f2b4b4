"""services/spec_diff.py: field paths, shortened values, masked secrets (pure, no server)."""

from __future__ import annotations

from fleetyard.services.spec_diff import MASK, MAX_VALUE, diff_documents, resource_diff, shorten


def _doc(**spec: object) -> dict[str, object]:
    return {"apiVersion": "fleetyard/v1", "kind": "Workload", "metadata": {"name": "w"}, "spec": spec}


def test_changed_leaves_have_dotted_and_indexed_paths() -> None:
    old = _doc(replicas={"min": 3, "max": 8}, command=["python", "-c", "a"], gpus=[{"sku": "L40S", "count": 8}])
    new = _doc(replicas={"min": 5, "max": 8}, command=["python", "-c", "b", "x"], gpus=[{"sku": "L40S", "count": 4}],
               priority=10)
    got = [(c.path, c.before, c.after) for c in diff_documents(old, new)]
    assert got == [("spec.replicas.min", "3", "5"), ("spec.command[2]", "a", "b"), ("spec.command[3]", None, "x"),
                   ("spec.gpus[0].count", "8", "4"), ("spec.priority", None, "10")]


def test_removed_fields_and_odd_keys() -> None:
    old = _doc(demand={"eu-west": 20, "a b": 1}, spread={"min_sites": 2})
    new = _doc(demand={"eu-west": 20})
    got = [(c.path, c.before, c.after) for c in diff_documents(old, new)]
    assert got == [('spec.demand["a b"]', "1", None), ("spec.spread", '{"min_sites":2}', None)]


def test_secret_looking_env_values_are_masked_in_both_forms() -> None:
    old = _doc(env={"MODE": "a", "DB_PASSWORD": "old-pw"},
               sidecar={"env": [{"name": "HF_TOKEN", "value": "t1"}, {"name": "LEVEL", "value": "1"}]})
    new = _doc(env={"MODE": "b", "DB_PASSWORD": "new-pw", "API_KEY": "k"},
               sidecar={"env": [{"name": "HF_TOKEN", "value": "t2"}, {"name": "LEVEL", "value": "2"},
                                {"name": "SECRET_X", "value": "s"}]})
    got = {c.path: (c.before, c.after) for c in diff_documents(old, new)}
    assert got == {"spec.env.MODE": ("a", "b"), "spec.env.DB_PASSWORD": (MASK, MASK), "spec.env.API_KEY": (None, MASK),
                   "spec.sidecar.env[0].value": (MASK, MASK), "spec.sidecar.env[1].value": ("1", "2"),
                   "spec.sidecar.env[2]": (None, MASK)}
    assert all("pw" not in str(v) and "t2" not in str(v) for v in got.values())


def test_a_key_outside_env_is_not_masked() -> None:
    got = diff_documents(_doc(labels={"token": "a"}), _doc(labels={"token": "b"}))
    assert [(c.before, c.after) for c in got] == [("a", "b")]


def test_long_values_are_shortened_to_one_line() -> None:
    text = shorten("x" * 500)
    assert len(text) == MAX_VALUE and text.endswith("...")
    assert shorten("a\nb") == "a\\nb"
    assert shorten(True) == "true" and shorten({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'


def test_resource_diff_actions() -> None:
    doc = _doc(priority=1)
    created = resource_diff("Workload", "w", None, doc)
    deleted = resource_diff("Workload", "w", doc, None)
    assert created is not None and created.action == "created" and created.fields == []
    assert deleted is not None and deleted.action == "deleted"
    assert resource_diff("Workload", "w", doc, _doc(priority=1)) is None
    updated = resource_diff("Workload", "w", doc, _doc(priority=2))
    assert updated is not None and updated.action == "updated" and [f.path for f in updated.fields] == ["spec.priority"]

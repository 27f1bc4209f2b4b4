"""The subset of the Karmada v1.x CRD schemas (policy.karmada.io/v1alpha1) fleetyard's export relies on.

Written from the Karmada API reference (karmada.io/docs/reference/karmada-api,
PropagationPolicy and OverridePolicy, pinned to KARMADA_VERSION): only the fields the
export writes, each with its CRD type and enum; `additionalProperties: false` where the
object's whole field list is given here (a misspelt field then fails the test).
"""

from __future__ import annotations

from typing import Any

KARMADA_VERSION = "v1.11"

_STR: dict[str, Any] = {"type": "string", "minLength": 1}
_STR_LIST: dict[str, Any] = {"type": "array", "items": _STR}

_RESOURCE_SELECTOR: dict[str, Any] = {  # spec.resourceSelectors[]: apiVersion and kind required
    "type": "object",
    "required": ["apiVersion", "kind"],
    "properties": {"apiVersion": _STR, "kind": _STR, "namespace": {"type": "string"}, "name": {"type": "string"},
                   "labelSelector": {"type": "object"}},
    "additionalProperties": False,
}
_CLUSTER_AFFINITY: dict[str, Any] = {
    "type": "object",
    "properties": {"clusterNames": _STR_LIST, "exclude": _STR_LIST, "labelSelector": {"type": "object"},
                   "fieldSelector": {"type": "object"}},
    "additionalProperties": False,
}
_METADATA: dict[str, Any] = {"type": "object", "required": ["name"], "properties": {"name": _STR}}


def _policy(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {"apiVersion": {"const": "policy.karmada.io/v1alpha1"}, "kind": {"const": kind},
                       "metadata": _METADATA, "spec": spec},
        "additionalProperties": False,
    }


PROPAGATION_POLICY = _policy("PropagationPolicy", {
    "type": "object",
    "required": ["resourceSelectors"],
    "properties": {
        "resourceSelectors": {"type": "array", "minItems": 1, "items": _RESOURCE_SELECTOR},
        "placement": {
            "type": "object",
            "properties": {
                "clusterAffinity": _CLUSTER_AFFINITY,
                "replicaScheduling": {
                    "type": "object",
                    "properties": {
                        "replicaSchedulingType": {"enum": ["Duplicated", "Divided"]},
                        "replicaDivisionPreference": {"enum": ["Aggregated", "Weighted"]},
                        "weightPreference": {
                            "type": "object",
                            "properties": {
                                "staticWeightList": {"type": "array", "items": {
                                    "type": "object",
                                    "required": ["targetCluster", "weight"],
                                    "properties": {"targetCluster": _CLUSTER_AFFINITY,
                                                   "weight": {"type": "integer", "minimum": 1}},
                                    "additionalProperties": False,
                                }},
                                "dynamicWeight": {"enum": ["AvailableReplicas"]},
                            },
                            "additionalProperties": False,
                        },
                    },
                    "additionalProperties": False,
                },
            },
        },
        "priority": {"type": "integer"},
        "schedulerName": {"type": "string"},
    },
})

_PLAINTEXT: dict[str, Any] = {  # overriders.plaintext[]: path, operator, value
    "type": "object",
    "required": ["path", "operator"],
    "properties": {"path": {"type": "string", "pattern": "^/"}, "operator": {"enum": ["add", "remove", "replace"]},
                   "value": {}},
    "additionalProperties": False,
}

OVERRIDE_POLICY = _policy("OverridePolicy", {
    "type": "object",
    "properties": {
        "resourceSelectors": {"type": "array", "items": _RESOURCE_SELECTOR},
        "targetCluster": _CLUSTER_AFFINITY,  # deprecated top-level form, kept by the CRD
        "overriders": {"type": "object"},
        "overrideRules": {"type": "array", "items": {
            "type": "object",
            "required": ["overriders"],
            "properties": {
                "targetCluster": _CLUSTER_AFFINITY,
                "overriders": {
                    "type": "object",
                    "properties": {"plaintext": {"type": "array", "items": _PLAINTEXT},
                                   "imageOverrider": {"type": "array"}, "commandOverrider": {"type": "array"},
                                   "argsOverrider": {"type": "array"}, "labelsOverrider": {"type": "array"},
                                   "annotationsOverrider": {"type": "array"}},
                    "additionalProperties": False,
                },
            },
            "additionalProperties": False,
        }},
    },
    "additionalProperties": False,
})

SCHEMAS = {"PropagationPolicy": PROPAGATION_POLICY, "OverridePolicy": OVERRIDE_POLICY}

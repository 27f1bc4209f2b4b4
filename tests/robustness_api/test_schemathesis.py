"""schemathesis against the live server, on SQLite and PostgreSQL: the OpenAPI document is the API.

Every operation gets `MAX_EXAMPLES` generated cases per phase (examples, coverage,
fuzzing; seeded), sent with an admin token - and a second, smaller run with a viewer
token - and every built-in check runs on each answer: no 5xx, every status and
header documented, every body matching its schema, schema-valid requests accepted
and schema-invalid ones refused, 401 without the token, 405 with a true `Allow`.

Where the schema cannot say a rule, the check is told (`SEMANTIC`): a fleet file is
schema-valid text that may not be a valid fleet; an agent token needs a site and other
roles refuse one; a heartbeat's body names its own site, which must be the path's; a
registry object's bytes must fit its key (a manifest, an index), and a version
manifest is written create-only (`If-None-Match: *`, else 428; 412 if it exists); a
rollout action's `to` is only for `undo`; showback's `by` is a grouping, its `period` one
from 1 h to two years and its `start` a time in UTC, and usage's times carry an offset; a
telemetry series must be one of the catalog's, its range after its start and within a
retention, its labels the series' own.
Those operations may answer 422 (and 412/428) to schema-valid data.

The admin and viewer tokens under test are never revoked by a generated case (that
would turn the rest of the runs into 401s); the server's own rule keeps the last
admin anyway.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings

from tests.robustness_api.conftest import Live

MAX_EXAMPLES = int(os.environ.get("FLEETYARD_SCHEMATHESIS_EXAMPLES", "8"))
SEED = 20_260_901
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance", "response_headers_conformance", "positive_data_acceptance",
          "negative_data_rejection", "missing_required_header", "ignored_auth", "unsupported_method",
          "allow_header_conformance", "use_after_free", "ensure_resource_availability")
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "422"]
SEMANTIC = {"/api/v1/apply": ACCEPTED, "/api/v1/tokens": ACCEPTED, "/api/v1/sites/{site}/status": ACCEPTED,
            "/api/v1/resources/{kind}/{name}": ACCEPTED, "/api/v1/rollouts/{workload}/{action}": ACCEPTED,
            "/api/v1/registry/objects/{key}": [*ACCEPTED, "412", "428"],
            "/api/v1/cost": ACCEPTED, "/api/v1/usage": ACCEPTED, "/api/v1/metrics/{series}": ACCEPTED}
COUNTS: dict[str, Counter[str]] = {}


def _document() -> dict[str, Any]:
    """The OpenAPI document, built from the code at collection time (the live server serves
    the same one: `test_the_served_document_is_the_tested_one`)."""
    from fleetyard.server import Settings, create_app

    data = tempfile.mkdtemp(prefix="fleetyard-openapi-")
    try:
        return create_app(Settings(data=Path(data))).openapi()
    finally:
        shutil.rmtree(data, ignore_errors=True)


DOCUMENT = _document()
schema = schemathesis.openapi.from_dict(copy.deepcopy(DOCUMENT), config=schemathesis.Config.from_dict({
    "seed": SEED,
    "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
    "checks": {name: {"enabled": True} for name in CHECKS},
    "operations": [{"include-path": path, "checks": {"positive_data_acceptance": {"expected-statuses": statuses}}}
                   for path, statuses in SEMANTIC.items()],
}))


@pytest.fixture(scope="module", params=["admin", "viewer"])
def caller(request: pytest.FixtureRequest, live: Live) -> tuple[str, str]:
    return request.param, live.admin if request.param == "admin" else live.viewer


@pytest.fixture(scope="module")
def tally(live: Live, caller: tuple[str, str]) -> Iterator[Counter[str]]:
    counts = COUNTS.setdefault(f"{live.backend}/{caller[0]}", Counter())
    yield counts
    print(f"\nschemathesis {live.backend} as {caller[0]}: {sum(counts.values())} cases, "
          f"by status {dict(sorted(counts.items()))}")


def test_the_served_document_is_the_tested_one(live: Live) -> None:
    assert httpx.get(f"{live.server.url}/openapi.json").json() == DOCUMENT


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_api_matches_its_openapi_document(case: schemathesis.Case, live: Live, caller: tuple[str, str],
                                          tally: Counter[str]) -> None:
    if case.method == "DELETE" and (case.path_parameters or {}).get("token_id") in live.protected:
        return  # would revoke a token these runs use
    response = case.call_and_validate(base_url=live.server.url, headers={"Authorization": f"Bearer {caller[1]}"})
    tally[str(response.status_code)] += 1
    server_log = live.server.log.read_text()
    assert "internal error" not in server_log and "Traceback" not in server_log


STATEFUL_EXAMPLES = int(os.environ.get("FLEETYARD_SCHEMATHESIS_SCENARIOS", "15"))


def test_api_in_sequences(live: Live, caller: tuple[str, str]) -> None:
    """Stateful: chains of calls that feed each answer into the next (a token created,
    listed, revoked; a resource listed, read, deleted), every answer checked as above."""
    headers = {"Authorization": f"Bearer {caller[1]}"}
    calls: Counter[str] = Counter()

    # The object routes stay out: their key pattern's strategy, fed by links, trips
    # Hypothesis' consistency check; the stateless run above covers them.
    chains = schema.exclude(path="/api/v1/registry/objects/{key}")

    class Sequences(chains.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: schemathesis.Case) -> None:
            if case.method == "DELETE" and (case.path_parameters or {}).get("token_id") in live.protected:
                case.path_parameters["token_id"] = "tok_00000000"  # not a token these runs use

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"base_url": live.server.url, "headers": headers}

        def after_call(self, response: schemathesis.Response, case: schemathesis.Case) -> None:
            calls[str(response.status_code)] += 1

    # Generate only: the server's state carries over from one sequence to the next, so a
    # replayed sequence (shrinking) would draw from other answers, which Hypothesis refuses.
    Sequences.run(settings=settings(max_examples=STATEFUL_EXAMPLES, stateful_step_count=8, deadline=None,
                                    derandomize=True, suppress_health_check=list(HealthCheck),
                                    phases=[Phase.generate]))
    print(f"\nschemathesis stateful {live.backend} as {caller[0]}: {sum(calls.values())} calls, "
          f"by status {dict(sorted(calls.items()))}")
    server_log = live.server.log.read_text()
    assert "internal error" not in server_log and "Traceback" not in server_log

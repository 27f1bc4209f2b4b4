"""schemathesis against the live server, on SQLite and PostgreSQL: the OpenAPI document is the API.

Every operation gets `MAX_EXAMPLES` generated cases per phase (examples, coverage,
fuzzing; seeded), sent with an admin token - and a second, smaller run with a viewer
token - and every built-in check runs on each answer: no 5xx, every status and
header documented, every body matching its schema, schema-valid requests accepted
and schema-invalid ones refused, 401 without the token, 405 with a true `Allow`.

Where the schema cannot say a rule, the check is told (`SEMANTIC_422`): a fleet file
is schema-valid text that may not be a valid fleet; an agent token needs a site and
other roles refuse one; a heartbeat's body names its own site, which must be the
path's. Those operations may answer 422 to schema-valid data.

The admin token under test is never revoked by a generated case (it would turn the
rest of the run into 401s); the server's own rule keeps the last admin anyway.
"""

from __future__ import annotations

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
from hypothesis import HealthCheck, settings

from tests.robustness_api.conftest import Live

MAX_EXAMPLES = int(os.environ.get("FLEETYARD_SCHEMATHESIS_EXAMPLES", "8"))
SEED = 20_260_901
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance", "response_headers_conformance", "positive_data_acceptance",
          "negative_data_rejection", "missing_required_header", "ignored_auth", "unsupported_method",
          "allow_header_conformance", "use_after_free", "ensure_resource_availability")
SEMANTIC_422 = ("/api/v1/apply", "/api/v1/tokens", "/api/v1/sites/{site}/status", "/api/v1/resources/{kind}/{name}")
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "422"]
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
schema = schemathesis.openapi.from_dict(DOCUMENT, config=schemathesis.Config.from_dict({
    "seed": SEED,
    "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
    "checks": {name: {"enabled": True} for name in CHECKS},
    "operations": [{"include-path": list(SEMANTIC_422),
                    "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED}}}],
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
    if case.method == "DELETE" and (case.path_parameters or {}).get("token_id") == live.admin_id:
        return  # would revoke the token this run uses
    response = case.call_and_validate(base_url=live.server.url, headers={"Authorization": f"Bearer {caller[1]}"})
    tally[str(response.status_code)] += 1
    server_log = live.server.log.read_text()
    assert "internal error" not in server_log and "Traceback" not in server_log

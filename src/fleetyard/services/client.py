"""`Client`: the control plane API v1 (docs/api.md) from Python, typed with the wire schemas.

    with Client("http://127.0.0.1:8080", token) as api:
        result = api.apply(read_spec_files(["fleet/"]))   # ApplyResult
        api.status().sites                                # list[SiteStatus]
        api.report(SiteReport(site="fra-1", ...))         # the agent's heartbeat

Every failure is an `ApiError(status, message, problems)`: `status` is the HTTP status
(0 when the server could not be reached), `message` one line fit for a terminal,
`problems` the spec problems of a 422 (the same words as `fleetyard validate`).
The registry's objects are reached through `open_remote_store` (http_backend).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from fleetyard.services.tls import ClientTLS, TLSConfigError, closed_after_handshake, tls_failure
from fleetyard.services.wire import (
    ApplyRequest,
    ApplyResult,
    AuditEntry,
    DesiredState,
    EventOut,
    FleetStatus,
    HealthOut,
    ModelOut,
    ObjectOut,
    PlanOut,
    PlanRevisionOut,
    ProblemOut,
    ResourceOut,
    Role,
    RolloutAction,
    RolloutOut,
    ScheduleOut,
    SiteReport,
    SpecFile,
    TokenCreate,
    TokenCreated,
    TokenOut,
    UsageOut,
    WhoAmI,
)
from fleetyard.spec import Problem
from fleetyard.spec.allocation import Allocation
from fleetyard.spec.loader import TraceUnreadable, file_trace_reader, spec_files, trace_missing, trace_path
from fleetyard.spec.messages import found
from fleetyard.spec.yamlsource import parse_documents

__all__ = ["KINDS", "ApiError", "Client", "InvalidServerUrl", "SpecFiles", "TLSError", "check_server_url",
           "read_spec_files", "read_traces"]

M = TypeVar("M", bound=BaseModel)
KINDS = ("regions", "sites", "workloads", "policies", "objectives", "flags", "secrets")
API = "/api/v1"
LONG_READ = 900.0  # apply and delete re-plan the fleet: allow the planner its time


class ApiError(Exception):
    """A call failed: HTTP `status` (0: unreachable), a one-line `message`, spec `problems`."""

    def __init__(self, status: int, message: str, problems: Sequence[ProblemOut] = (), detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.problems = list(problems)
        self.detail = detail or message  # the server's words, without the status

    def __str__(self) -> str:
        return self.message


class InvalidServerUrl(ApiError):
    """The server URL itself is malformed (not http(s)://HOST[:PORT])."""


class TLSError(ApiError):
    """TLS failed: a CA bundle or client certificate that cannot be used, or a server (or its
    answer to our certificate) that does not verify. Status 0; a mistake to fix, not to retry."""


def check_server_url(base_url: str) -> str:
    """`base_url` without a trailing slash, or InvalidServerUrl saying what is wrong."""
    try:
        url = httpx.URL(base_url)
    except httpx.InvalidURL as exc:
        raise InvalidServerUrl(0, f"invalid server URL {base_url!r}: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise InvalidServerUrl(0, f"invalid server URL {base_url!r}: expected http://HOST:PORT or https://HOST")
    return base_url.rstrip("/")


class SpecFiles(list[SpecFile]):
    """The YAML files of an apply, and (`traces`) the energy traces their Sites reference."""

    def __init__(self, files: Iterable[SpecFile] = (), traces: Iterable[SpecFile] = ()) -> None:
        super().__init__(files)
        self.traces = list(traces)


def read_spec_files(paths: Iterable[str | Path]) -> tuple[SpecFiles, list[Problem]]:
    """The YAML files to upload for `paths` (folders expand as for `fleetyard validate`),
    named as given on the command line, plus problems for paths that cannot be read.
    The CSV traces the files' Sites reference (`spec.energy.trace`) travel along in
    `.traces`, each named `trace_path(file name, reference)` as the loader resolves it;
    one that cannot be read is a problem with the words of `fleetyard validate`."""
    files, problems = spec_files(Path(p) for p in paths)
    out = SpecFiles()
    for f in files:
        try:
            out.append(SpecFile(name=str(f), content=f.read_text(encoding="utf-8")))
        except UnicodeDecodeError as exc:
            problems.append(Problem(str(f), None, "", f"not UTF-8 text: {exc.reason} at byte {exc.start}"))
        except OSError as exc:
            problems.append(Problem(str(f), None, "", f"cannot read file: {exc.strerror or exc}"))
    out.traces, trace_problems = read_traces(out)
    return out, problems + trace_problems


def read_traces(files: Iterable[SpecFile]) -> tuple[list[SpecFile], list[Problem]]:
    """Every trace the Sites of `files` reference, read once each (a file that does not
    parse is left to the server, which names its problems)."""
    read = file_trace_reader()
    traces: dict[str, SpecFile] = {}
    problems: list[Problem] = []
    for f in files:
        docs, _parse_problems = parse_documents(f.content, f.name)
        for doc in docs:
            data = doc.data if isinstance(doc.data, dict) else {}
            spec = data.get("spec") if data.get("kind") == "Site" else None
            energy = spec.get("energy") if isinstance(spec, dict) else None
            ref = energy.get("trace") if isinstance(energy, dict) else None
            if not isinstance(ref, str) or trace_path(f.name, ref) in traces:
                continue
            loc = ("spec", "energy", "trace")
            try:
                where, text = read(f.name, ref)
            except TraceUnreadable as exc:
                problems.append(Problem(f.name, doc.line_of(loc), "spec.energy.trace",
                                        f"cannot read trace {found(ref)} ({exc.where}): {exc.why}"))
                continue
            if text is None:
                problems.append(Problem(f.name, doc.line_of(loc), "spec.energy.trace", trace_missing(ref, where)))
                continue
            traces[where] = SpecFile(name=where, content=text)
    return list(traces.values()), problems


class Client:
    """The API v1 over HTTP; one connection pool, safe to share between threads."""

    def __init__(
        self, base_url: str, token: str | None, *, timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None, tls: ClientTLS | None = None,
    ) -> None:
        self.base_url = check_server_url(base_url)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._timeout = timeout
        self._ca = tls.ca if tls else None
        self._cert = tls.cert if tls else None
        try:
            verify = tls.verify() if tls else True
        except TLSConfigError as exc:
            raise TLSError(0, str(exc)) from None
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout, transport=transport,
                                  verify=verify)

    # ---- plumbing ------------------------------------------------------------------

    def _request(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
                 long: bool = False) -> httpx.Response:
        timeout = httpx.Timeout(self._timeout, read=max(self._timeout, LONG_READ)) if long else None
        try:
            if timeout is None:
                r = self._http.request(method, path, json=json, params=params)
            else:
                r = self._http.request(method, path, json=json, params=params, timeout=timeout)
        except httpx.TimeoutException:
            raise ApiError(0, f"{self.base_url} did not answer {method} {path} in time") from None
        except httpx.HTTPError as exc:
            why = tls_failure(exc, self._ca)
            if why is not None:
                raise TLSError(0, f"cannot connect to {self.base_url}: {why}") from None
            if isinstance(exc, httpx.ConnectError):
                raise ApiError(0, f"cannot connect to {self.base_url}: {_reason(exc)}") from None
            if isinstance(exc, httpx.RemoteProtocolError) and self.base_url.startswith("http://"):
                raise ApiError(0, f"{method} {self.base_url}{path} failed: {exc} (does the server speak "
                                  "https:// there?)") from None
            if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError) and self.base_url.startswith("https://"):
                # TLS 1.3: the server checks the client certificate after the handshake and hangs up.
                raise TLSError(0, f"cannot connect to {self.base_url}: {closed_after_handshake(self._cert)}") \
                    from None
            raise ApiError(0, f"{method} {self.base_url}{path} failed: {exc}") from None
        if r.status_code >= 400:
            raise _error(r)
        return r

    def _get(self, path: str, model: type[M], **params: Any) -> M:
        return _parse(self._request("GET", path, params=params or None), model)

    def _get_list(self, path: str, model: type[M], **params: Any) -> list[M]:
        r = self._request("GET", path, params=params or None)
        try:
            return TypeAdapter(list[model]).validate_python(r.json())  # type: ignore[valid-type]
        except (ValueError, ValidationError) as exc:
            raise ApiError(r.status_code, f"unexpected answer from {self.base_url}{path}: {exc}") from None

    # ---- routes ----------------------------------------------------------------------

    def health(self) -> HealthOut:
        """`GET /healthz` (no token needed)."""
        return self._get("/healthz", HealthOut)

    def apply(self, files: Sequence[SpecFile], *, dry_run: bool = False,
              traces: Sequence[SpecFile] | None = None) -> ApplyResult:
        """Create or update every resource of `files`, re-plan; 422 → ApiError with problems.
        `traces`: the energy traces to upload (default: those `read_spec_files` found)."""
        if traces is None:
            traces = files.traces if isinstance(files, SpecFiles) else []
        body = ApplyRequest(files=list(files), dry_run=dry_run, traces=list(traces)).model_dump(mode="json")
        return _parse(self._request("POST", f"{API}/apply", json=body, long=True), ApplyResult)

    def resources(self, kind: str) -> list[ResourceOut]:
        """Every stored resource of a kind (`regions`, `sites`, `workloads`, `policies`, `objectives`)."""
        return self._get_list(f"{API}/resources/{_seg(kind)}", ResourceOut)

    def resource(self, kind: str, name: str) -> ResourceOut:
        """One stored resource; 404 → ApiError."""
        return self._get(f"{API}/resources/{_seg(kind)}/{_seg(name)}", ResourceOut)

    def delete(self, kind: str, name: str, *, dry_run: bool = False) -> ApplyResult:
        """Delete a resource and re-plan; 422 if the rest no longer validates."""
        path = f"{API}/resources/{_seg(kind)}/{_seg(name)}"
        r = self._request("DELETE", path, params={"dry_run": "true"} if dry_run else None, long=True)
        return _parse(r, ApplyResult)

    def plan(self, revision: int | None = None) -> PlanOut:
        """The current plan and its revision, or the stored `revision`; 404 → ApiError before the
        first apply or for a revision not stored."""
        if revision is None:
            return self._get(f"{API}/plan", PlanOut)
        return self._get(f"{API}/plan", PlanOut, revision=revision)

    def plan_revisions(self, *, limit: int = 50, offset: int = 0) -> list[PlanRevisionOut]:
        """The stored plan revisions, newest first, `limit` from `offset`."""
        return self._get_list(f"{API}/plan/revisions", PlanRevisionOut, limit=limit, offset=offset)

    def schedule(self) -> ScheduleOut:
        """The deferred-work schedule of the current plan revision; 404 → ApiError before the first apply."""
        return self._get(f"{API}/schedule", ScheduleOut)

    def usage(self, *, since: datetime | None = None, until: datetime | None = None, limit: int = 1000,
              offset: int = 0) -> list[UsageOut]:
        """Hourly usage rows the sites reported, oldest first (default: the last 30 days)."""
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        params |= {k: v.isoformat() for k, v in (("since", since), ("until", until)) if v is not None}
        return self._get_list(f"{API}/usage", UsageOut, **params)

    def status(self) -> FleetStatus:
        """Every site's last report, replicas and sync progress."""
        return self._get(f"{API}/status", FleetStatus)

    def desired(self, site: str) -> DesiredState:
        """What `site` must hold and run (agents: their own site only)."""
        return self._get(f"{API}/sites/{_seg(site)}/desired", DesiredState)

    def report(self, report: SiteReport) -> None:
        """The heartbeat: the agent's status for its site."""
        self._request("PUT", f"{API}/sites/{_seg(report.site)}/status", json=report.model_dump(mode="json"))

    def models(self) -> list[ModelOut]:
        """Versions in the server's registry."""
        return self._get_list(f"{API}/models", ModelOut)

    def objects(self, prefix: str = "") -> list[ObjectOut]:
        """Registry objects under a key prefix."""
        return self._get_list(f"{API}/registry/objects", ObjectOut, prefix=prefix)

    def create_token(self, role: Role, site: str | None = None, *, ttl_hours: float | None = None,
                     description: str = "") -> TokenCreated:
        """A new token (admin only); its secret is in the answer, once."""
        body = TokenCreate(role=role, site=site, ttl_hours=ttl_hours, description=description)
        return _parse(self._request("POST", f"{API}/tokens", json=body.model_dump(mode="json")), TokenCreated)

    def tokens(self) -> list[TokenOut]:
        """Every token (admin only), without secrets."""
        return self._get_list(f"{API}/tokens", TokenOut)

    def revoke_token(self, token_id: str) -> None:
        """Revoke a token (admin only)."""
        self._request("DELETE", f"{API}/tokens/{_seg(token_id)}")

    def audit(self, limit: int = 100) -> list[AuditEntry]:
        """The newest audit entries first."""
        return self._get_list(f"{API}/audit", AuditEntry, limit=limit)

    def rollouts(self) -> list[RolloutOut]:
        """The latest rollout of every workload."""
        return self._get_list(f"{API}/rollouts", RolloutOut)

    def rollout(self, workload: str) -> RolloutOut:
        """The workload's latest rollout; 404 → ApiError when it has none."""
        return self._get(f"{API}/rollouts/{_seg(workload)}", RolloutOut)

    def rollout_action(self, workload: str, action: str, *, to: str | None = None) -> RolloutOut:
        """pause | resume | promote | abort | undo (`to`: the version undo pins); 404/409 → ApiError."""
        body = RolloutAction(to=to).model_dump(mode="json") if to is not None else None
        return _parse(self._request("POST", f"{API}/rollouts/{_seg(workload)}/{_seg(action)}", json=body),
                      RolloutOut)

    def events(self, *, after: int | None = None, limit: int = 100, kind: str | None = None,
               subject: str | None = None) -> list[EventOut]:
        """Events in id order: the newest `limit`, or (with `after`) the first `limit` after that id."""
        params = {"after": after, "limit": limit, "kind": kind, "subject": subject}
        return self._get_list(f"{API}/events", EventOut, **{k: v for k, v in params.items() if v is not None})

    def cost(self, by: str = "team", period: str = "30d", start: str | None = None) -> Allocation:
        """Showback over what actually ran: `GET /api/v1/cost?by=&period=&start=` (docs/cost.md);
        `period` as `30d`/`72h`/`2w`, `start` ISO 8601 UTC (the server's default when None)."""
        params = {"by": by, "period": period, **({"start": start} if start is not None else {})}
        return self._get(f"{API}/cost", Allocation, **params)

    def whoami(self) -> WhoAmI:
        """`GET /api/v1/whoami`: the token's id, role and site."""
        return self._get("/api/v1/whoami", WhoAmI)

    def metrics(self) -> str:
        """The server's Prometheus metrics (text format)."""
        return self._request("GET", "/metrics").text

    # ---- lifecycle ----------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _seg(value: str) -> str:
    return quote(value, safe="")


def _reason(exc: httpx.ConnectError) -> str:
    text = str(exc)
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused (is `fleetyard server` running there?)"
    return text or type(exc).__name__


def _parse(r: httpx.Response, model: type[M]) -> M:
    try:
        return model.model_validate_json(r.content)
    except ValidationError as exc:
        raise ApiError(r.status_code, f"unexpected answer from {r.request.url}: {exc}") from None


def _error(r: httpx.Response) -> ApiError:
    problems: list[ProblemOut] = []
    try:
        body = r.json()
    except ValueError:
        body = None
    detail = ""
    if isinstance(body, dict):
        raw = body.get("detail")
        detail = raw if isinstance(raw, str) else ("" if raw is None else str(raw))
        for p in body.get("problems") or []:
            try:
                problems.append(ProblemOut.model_validate(p))
            except ValidationError:
                continue
    if not detail:
        detail = r.text.strip()[:200] or r.reason_phrase
    said = detail
    if r.status_code == 401:
        detail = f"the server refused the token: {detail}"
    elif r.status_code == 403:
        detail = f"not allowed: {detail}"
    return ApiError(r.status_code, f"{detail} ({r.status_code})", problems, said)

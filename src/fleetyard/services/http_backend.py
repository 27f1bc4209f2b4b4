"""The registry `Backend` over the control plane's HTTP object routes.

`HttpBackend` lets every registry function (`push`, `pull`, `missing_chunks`,
`read_ranges`, `copy_version`, ...) run against a `fleetyard server`, exactly as it
runs against a folder or a bucket::

    store = open_remote_store("http://127.0.0.1:8080", token)      # a registry Store
    push(store, "./support-llm", "support-llm", "3")                # sends only new chunks
    plan = missing_chunks(store, "support-llm:3", have=site_chunks)
    for need, stored, raw in read_ranges(store, plan.ranges): ...   # ranged GETs, verified

Routes (docs/api.md): `GET|HEAD|PUT|DELETE /api/v1/registry/objects/{key}` and
`GET /api/v1/registry/objects?prefix=P`. Reads call `throttle(n)` after every `n`
bytes received, so a caller can cap its bandwidth (the site agent passes a token
bucket). Errors are the registry's own classes: `ObjectNotFoundError` for 404,
`RemoteAuthError` (a `StorageError`) for 401/403, `StorageError` for everything else
(connection refused, timeouts, 5xx), each with a one-line message.

The client never trusts the server for integrity: the registry functions check
every chunk against its BLAKE3 name and every version against its signature.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import BinaryIO
from urllib.parse import quote

import httpx

from fleetyard.registry import layout
from fleetyard.registry.backends.base import ObjectInfo, ObjectNotFoundError
from fleetyard.registry.errors import InvalidInputError, NotFoundError, StorageError
from fleetyard.registry.provenance import token_subject
from fleetyard.registry.store import Store
from fleetyard.services.tls import ClientTLS, TLSConfigError, tls_failure

__all__ = ["OBJECTS_PATH", "HttpBackend", "RemoteAuthError", "RemoteTLSError", "open_remote_store"]

OBJECTS_PATH = "/api/v1/registry/objects"


class RemoteAuthError(StorageError):
    """The server refused the token (401) or its role or site (403)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class RemoteTLSError(StorageError):
    """TLS with the server failed (wrong CA, expired or misnamed certificate, client certificate refused)."""


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:200] or response.reason_phrase
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        return str(body["detail"])
    return str(body)[:200]


class HttpBackend:
    """A registry backend whose objects live on a fleetyard server (see module doc).

    Thread-safe: `read_ranges` fetches several ranges at once over one connection pool.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 30.0,
        throttle: Callable[[int], None] | None = None,
        transport: httpx.BaseTransport | None = None,
        tls: ClientTLS | None = None,
    ) -> None:
        try:
            url = httpx.URL(base_url)
        except httpx.InvalidURL as exc:
            raise InvalidInputError(f"invalid server URL {base_url!r}: {exc}") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise InvalidInputError(f"invalid server URL {base_url!r}: expected http://HOST:PORT or https://HOST")
        self.base_url = base_url.rstrip("/")
        self._throttle = throttle
        self._staging: str | None = None
        self._ca = tls.ca if tls else None
        try:
            verify = tls.verify() if tls else True
        except TLSConfigError as exc:
            raise InvalidInputError(str(exc)) from None
        self._client = httpx.Client(
            verify=verify,
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            transport=transport,
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
        )

    # ---- plumbing --------------------------------------------------------------

    @property
    def url(self) -> str:
        """Where the store lives, for messages."""
        return f"{self.base_url}{OBJECTS_PATH}"

    @staticmethod
    def _path(key: str) -> str:
        if not key or key.startswith("/") or ".." in key.split("/"):
            raise StorageError(f"invalid object key {key!r}")
        return f"{OBJECTS_PATH}/{quote(key, safe='/')}"

    def _check(self, response: httpx.Response, action: str, key: str) -> None:
        """Raise the registry error matching an error answer (the body must be read)."""
        status = response.status_code
        if status < 400:
            return
        detail = _detail(response)
        if status == 404:
            raise ObjectNotFoundError(f"{key} not found in {self.url}")
        if status in (401, 403):
            what = "token refused" if status == 401 else "not allowed"
            raise RemoteAuthError(f"{action} {key} on {self.base_url}: {what} ({status}): {detail}", status)
        raise StorageError(f"{action} {key} on {self.base_url} failed: {status} {detail}")

    def _transport_error(self, exc: httpx.HTTPError, action: str, key: str) -> StorageError:
        why = tls_failure(exc, self._ca)
        if why is not None:
            return RemoteTLSError(f"cannot connect to {self.base_url} ({action} {key}): {why}")
        if isinstance(exc, httpx.ConnectError):
            return StorageError(f"cannot connect to {self.base_url} ({action} {key}): {exc}")
        if isinstance(exc, httpx.TimeoutException):
            return StorageError(f"{action} {key} on {self.base_url} timed out")
        return StorageError(f"{action} {key} on {self.base_url} failed: {exc}")

    def _read(self, headers: dict[str, str], key: str) -> tuple[int, bytes]:
        """GET an object (or a range of it) streaming, calling the throttle as bytes arrive."""
        try:
            with self._client.stream("GET", self._path(key), headers=headers) as r:
                if r.status_code == 416:
                    return 416, b""
                if r.status_code >= 400:
                    r.read()
                    self._check(r, "reading", key)
                parts: list[bytes] = []
                for block in r.iter_bytes():
                    parts.append(block)
                    if self._throttle is not None:
                        self._throttle(len(block))
                return r.status_code, b"".join(parts)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, "reading", key) from exc

    # ---- the Backend protocol ------------------------------------------------------

    def get(self, key: str) -> bytes:
        """The whole object; ObjectNotFoundError if absent."""
        return self._read({}, key)[1]

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        """`length` bytes from `offset` (one `Range` request); fewer only at the end."""
        if length <= 0:
            return b""
        status, data = self._read({"Range": f"bytes={offset}-{offset + length - 1}"}, key)
        if status == 200:  # the server ignored the range: cut it here
            return data[offset : offset + length]
        return data

    def put(self, key: str, data: bytes) -> None:
        """Create or replace an object (the server writes it atomically and durably)."""
        self._put(key, data, create_only=False)

    def put_new(self, key: str, data: bytes) -> bool:
        """Create an object only if absent (`If-None-Match: *`); False if it exists."""
        return self._put(key, data, create_only=True)

    def put_file(self, key: str, path: str) -> None:
        """Upload a staged file as an object, streaming it; the file is removed."""
        try:
            with open(path, "rb") as f:
                self._put(key, f, create_only=False)  # streamed, with its Content-Length
        except OSError as exc:
            raise StorageError(f"cannot read staged file {path}: {exc.strerror or exc}") from exc
        finally:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    def _put(self, key: str, content: bytes | BinaryIO, *, create_only: bool) -> bool:
        headers = {"Content-Type": "application/octet-stream"}
        if create_only:
            headers["If-None-Match"] = "*"
        try:
            r = self._client.put(self._path(key), content=content, headers=headers)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, "writing", key) from exc
        if create_only and r.status_code == 412:
            return False
        self._check(r, "writing", key)
        return True

    def delete(self, key: str) -> None:
        """Remove an object; a missing one is not an error."""
        try:
            r = self._client.delete(self._path(key))
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, "deleting", key) from exc
        if r.status_code != 404:
            self._check(r, "deleting", key)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object whose key starts with `prefix`."""
        try:
            r = self._client.get(OBJECTS_PATH, params={"prefix": prefix})
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, "listing", prefix or "/") from exc
        self._check(r, "listing", prefix or "/")
        try:
            rows = [ObjectInfo(str(o["key"]), int(o["size"]), float(o["mtime"])) for o in r.json()]
        except (ValueError, KeyError, TypeError) as exc:
            raise StorageError(f"listing {prefix!r} on {self.base_url}: unexpected answer ({exc})") from exc
        return iter(rows)

    def exists(self, key: str) -> bool:
        """Whether an object exists (a HEAD request)."""
        try:
            r = self._client.head(self._path(key))
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, "checking", key) from exc
        if r.status_code == 404:
            return False
        self._check(r, "checking", key)
        return True

    def staging_dir(self) -> str:
        """A local temporary folder where pushes build packs before uploading them."""
        if self._staging is None or not os.path.isdir(self._staging):
            self._staging = tempfile.mkdtemp(prefix="fleetyard-http-staging-")
            atexit.register(shutil.rmtree, self._staging, True)  # also if close() is never called
        return self._staging

    def store_exists(self) -> bool:
        """Whether the server answers for its registry (raises if it refuses the token)."""
        try:
            self.list(layout.MARKER)
        except ObjectNotFoundError:
            return False
        return True

    def whoami(self) -> str:
        """The token's subject as the server sees it, e.g. `token tok_3f2a9c1d (operator) at URL`:
        what a push records as its pusher (and what the server checks it against)."""
        try:
            response = self._client.get("/api/v1/whoami")
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, "GET", "/api/v1/whoami") from None
        self._check(response, "GET", "/api/v1/whoami")
        body = response.json()
        return token_subject(str(body["id"]), str(body["role"]), self.base_url)

    # ---- lifecycle ------------------------------------------------------------------

    def close(self) -> None:
        """Close the connections and remove the local staging folder."""
        self._client.close()
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None

    def __enter__(self) -> HttpBackend:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def open_remote_store(
    base_url: str,
    token: str,
    *,
    throttle: Callable[[int], None] | None = None,
    timeout: float = 30.0,
    transport: httpx.BaseTransport | None = None,
    tls: ClientTLS | None = None,
) -> Store:
    """A registry `Store` on a fleetyard server (the server creates its registry at start).

    Raises NotFoundError if the server has no registry, RemoteAuthError if it refuses
    the token, StorageError if it cannot be reached. Close it with `store.backend.close()`.
    """
    backend = HttpBackend(base_url, token, timeout=timeout, throttle=throttle, transport=transport, tls=tls)
    try:
        if not backend.exists(layout.MARKER):
            raise NotFoundError(f"no registry at {backend.url}: expected {layout.MARKER} there")
    except BaseException:
        backend.close()
        raise
    return Store(backend)

"""A registry store in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, moto).

S3 PUTs are atomic whole-object writes with strong read-after-write consistency;
create-only writes use the conditional `If-None-Match: *` header so two pushes of
the same version cannot both succeed. Packs are built in a local temporary folder
and uploaded with boto3's managed (multipart, parallel) transfer.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from fleetyard.registry.backends.base import ObjectInfo, ObjectNotFoundError
from fleetyard.registry.errors import StorageError

__all__ = ["S3Backend"]

_MISSING = {"NoSuchKey", "404", "NotFound"}
_EXISTS = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}


class S3Backend:
    """Objects under `prefix/` in one bucket."""

    def __init__(self, bucket: str, prefix: str = "", client: Any | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        cfg = BotoConfig(retries={"max_attempts": 5, "mode": "standard"})
        self._client = client if client is not None else boto3.client("s3", config=cfg)
        self._staging: str | None = None

    @classmethod
    def from_url(cls, url: str) -> S3Backend:
        """`s3://bucket[/prefix]` → backend; endpoint and credentials from AWS settings."""
        rest = url[len("s3://") :]
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise StorageError(f"invalid S3 URL {url!r}: expected s3://BUCKET[/PREFIX]")
        return cls(bucket, prefix)

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _fail(self, exc: Exception, action: str, key: str) -> StorageError:
        if isinstance(exc, ClientError):
            err = exc.response.get("Error", {})
            return StorageError(
                f"S3 {action} {key} in {self.url} failed: {err.get('Code')} {err.get('Message')}"
            )
        return StorageError(f"S3 {action} {key} in {self.url} failed: {exc}")

    @staticmethod
    def _code(exc: ClientError) -> str:
        return str(exc.response.get("Error", {}).get("Code", ""))

    def get(self, key: str) -> bytes:
        try:
            resp = self._client.get_object(Bucket=self.bucket, Key=self._key(key))
            return bytes(resp["Body"].read())
        except ClientError as exc:
            if self._code(exc) in _MISSING:
                raise ObjectNotFoundError(f"{key} not found in {self.url}") from exc
            raise self._fail(exc, "reading", key) from exc
        except BotoCoreError as exc:
            raise self._fail(exc, "reading", key) from exc

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        if length <= 0:
            return b""
        try:
            resp = self._client.get_object(
                Bucket=self.bucket,
                Key=self._key(key),
                Range=f"bytes={offset}-{offset + length - 1}",
            )
            return bytes(resp["Body"].read())
        except ClientError as exc:
            if self._code(exc) in _MISSING:
                raise ObjectNotFoundError(f"{key} not found in {self.url}") from exc
            if self._code(exc) == "InvalidRange":
                return b""
            raise self._fail(exc, "reading", key) from exc
        except BotoCoreError as exc:
            raise self._fail(exc, "reading", key) from exc

    def put(self, key: str, data: bytes) -> None:
        try:
            self._client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(exc, "writing", key) from exc

    def put_new(self, key: str, data: bytes) -> bool:
        try:
            self._client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=data, IfNoneMatch="*"
            )
            return True
        except ClientError as exc:
            if self._code(exc) in _EXISTS:
                return False
            raise self._fail(exc, "writing", key) from exc
        except BotoCoreError as exc:
            raise self._fail(exc, "writing", key) from exc

    def put_file(self, key: str, path: str) -> None:
        try:
            self._client.upload_file(path, self.bucket, self._key(key))
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(exc, "uploading", key) from exc
        finally:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    def delete(self, key: str) -> None:
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if self._code(exc) not in _MISSING:
                raise self._fail(exc, "deleting", key) from exc
        except BotoCoreError as exc:
            raise self._fail(exc, "deleting", key) from exc

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        strip = len(self.prefix) + 1 if self.prefix else 0
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._key(prefix)
            )
            for page in pages:
                for obj in page.get("Contents", []):
                    key = str(obj["Key"])[strip:]
                    yield ObjectInfo(key, int(obj["Size"]), obj["LastModified"].timestamp())
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(exc, "listing", prefix) from exc

    def exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except ClientError as exc:
            if self._code(exc) in _MISSING:
                return False
            raise self._fail(exc, "checking", key) from exc
        except BotoCoreError as exc:
            raise self._fail(exc, "checking", key) from exc

    def staging_dir(self) -> str:
        if self._staging is None or not os.path.isdir(self._staging):
            self._staging = tempfile.mkdtemp(prefix="fleetyard-s3-staging-")
        return self._staging

    def store_exists(self) -> bool:
        try:
            self._client.head_bucket(Bucket=self.bucket)
            return True
        except ClientError:
            return False
        except BotoCoreError as exc:
            raise self._fail(exc, "opening", "bucket") from exc

    def close(self) -> None:
        """Remove the local staging folder."""
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None

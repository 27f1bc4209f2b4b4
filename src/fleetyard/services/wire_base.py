"""The base of the wire schemas (services/wire.py): the model bases and the string and
number types a database can store."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from fleetyard.services.storable import NUL_FREE

__all__ = ["Bytes", "Count", "Long", "ModelState", "Name", "Role", "Text"]

Role = Literal["admin", "operator", "viewer", "agent", "scrape"]
ModelState = Literal["pending", "syncing", "synced", "active", "failed"]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _In(_Wire):
    """A model clients send: numbers are finite (JSON has no NaN), and its strings are `Text`."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


# Strings a database can store (services/storable.py): no NUL. Fields stored in a
# column of bounded width say so, so PostgreSQL (which enforces it) and SQLite agree.
Text = Annotated[str, StringConstraints(pattern=NUL_FREE)]
Name = Annotated[str, StringConstraints(pattern=NUL_FREE, max_length=63)]  # a site, as the tables store it
Long = Annotated[str, StringConstraints(pattern=NUL_FREE, max_length=512)]  # a file name or URL
Count = Annotated[int, Field(ge=0, le=2**31 - 1)]  # an INTEGER column on PostgreSQL
Bytes = Annotated[int, Field(ge=0, le=2**63 - 1)]

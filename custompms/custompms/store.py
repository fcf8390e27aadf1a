"""The records: create, read, list, patch, delete and bulk upsert, with the contract's rules.

Everything here speaks plain dicts in the API's shape and raises :class:`ApiError` for
anything the client must fix; the HTTP layer only translates.
"""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from custompms.problems import ApiError, Location, fault, validation_faults
from custompms.resources import Resource
from custompms.storage import Clock, Database, format_timestamp, to_micros

Record = dict[str, Any]

_SERVER_TIMESTAMPS = ("created_at", "updated_at", "deleted_at")
_IF_MATCH: tuple[Location, str] = ("header", "If-Match")


def _to_db(value: Any) -> Any:
    """Storage form of a validated field value (dates as ISO text, lists as JSON)."""
    if isinstance(value, datetime):
        return format_timestamp(to_micros(value))
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list):
        return json.dumps(value)
    return value


def _from_row(resource: Resource, row: sqlite3.Row) -> Record:
    record = dict(row)
    for name in _SERVER_TIMESTAMPS:
        if record[name] is not None:
            record[name] = format_timestamp(record[name])
    for name in resource.json_fields:
        record[name] = json.loads(record[name])
    return record


def encode_cursor(updated_at: int, record_id: int) -> str:
    """Opaque cursor naming the last (updated_at, id) a page returned."""
    return base64.urlsafe_b64encode(f"{updated_at}:{record_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, int]:
    """Inverse of :func:`encode_cursor`; 422 naming the parameter when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        updated_at, record_id = (int(part) for part in raw.split(":"))
        if not all(-(2**63) <= part < 2**63 for part in (updated_at, record_id)):
            raise ValueError("out of SQLite's integer range")
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise ApiError(
            422,
            "invalid-cursor",
            "The cursor is not one this server returned.",
            errors=[fault("parameter", "cursor", "not a cursor returned by this server")],
        ) from error
    return updated_at, record_id


def _not_found(
    resource: Resource, record_id: int, source: tuple[Location, str] = ("parameter", "id")
) -> ApiError:
    return ApiError(
        404,
        "not-found",
        f"No {resource.singular} with id {record_id}.",
        errors=[fault(*source, "no such record")],
    )


class _Write:
    """One write transaction on one resource: the shared steps of create, patch and delete."""

    def __init__(self, conn: sqlite3.Connection, resource: Resource) -> None:
        self.conn = conn
        self.resource = resource
        self.clock = Clock(conn, resource.name)

    def fetch(self, record_id: int) -> sqlite3.Row | None:
        return self.conn.execute(
            f"SELECT * FROM {self.resource.name} WHERE id = ?",  # noqa: S608
            (record_id,),
        ).fetchone()

    def fetch_by_external_id(self, external_id: str) -> sqlite3.Row | None:
        return self.conn.execute(
            f"SELECT * FROM {self.resource.name} WHERE external_id = ?",  # noqa: S608
            (external_id,),
        ).fetchone()

    def check(self, values: Mapping[str, Any], record_id: int | None) -> None:
        """Uniqueness, reference and hierarchy rules for the values about to be written."""
        external_id = values.get("external_id")
        if external_id is not None:
            holder = self.fetch_by_external_id(external_id)
            if holder is not None and holder["id"] != record_id:
                raise ApiError(
                    409,
                    "external-id-conflict",
                    f"external_id {external_id!r} already belongs to "
                    f"{self.resource.singular} {holder['id']}.",
                    errors=[fault("field", "external_id", "already in use")],
                    existing_id=holder["id"],
                )
        for name, target in self.resource.references.items():
            target_id = values.get(name)
            if target_id is None:
                continue
            row = self.conn.execute(
                f"SELECT deleted_at FROM {target} WHERE id = ?",  # noqa: S608
                (target_id,),
            ).fetchone()
            if row is None or row["deleted_at"] is not None:
                state = "does not exist" if row is None else "is deleted"
                raise ApiError(
                    422,
                    "invalid-reference",
                    f"{name} {target_id} {state}.",
                    errors=[fault("field", name, f"{target} record {target_id} {state}")],
                )
        parent = self.resource.hierarchy
        if parent and record_id is not None and values.get(parent) is not None:
            self._check_acyclic(parent, values[parent], record_id)

    def _check_acyclic(self, parent: str, parent_id: int, record_id: int) -> None:
        # UNION (not UNION ALL) stops the walk even if the stored tree were already cyclic.
        (found,) = self.conn.execute(
            f"""WITH RECURSIVE ancestors(id) AS (
                    SELECT ?
                    UNION
                    SELECT t.{parent} FROM {self.resource.name} AS t
                    JOIN ancestors ON t.id = ancestors.id
                    WHERE t.{parent} IS NOT NULL
                )
                SELECT COUNT(*) FROM ancestors WHERE id = ?""",  # noqa: S608
            (parent_id, record_id),
        ).fetchone()
        if found:
            raise ApiError(
                422,
                "invalid-reference",
                f"{parent} {parent_id} would make the {self.resource.singular} its own ancestor.",
                errors=[fault("field", parent, "would create a cycle")],
            )

    def insert(self, values: Mapping[str, Any]) -> Record:
        self.check(values, None)
        now = self.clock.tick()
        columns = {**{k: _to_db(v) for k, v in values.items()}, "created_at": now}
        columns.update(updated_at=now, version=1, deleted_at=None)
        names = ", ".join(columns)
        marks = ", ".join("?" * len(columns))
        cursor = self.conn.execute(
            f"INSERT INTO {self.resource.name} ({names}) VALUES ({marks})",  # noqa: S608
            tuple(columns.values()),
        )
        return self.record(cursor.lastrowid)

    def record(self, record_id: int | None) -> Record:
        row = self.fetch(record_id) if record_id is not None else None
        assert row is not None  # only called for rows this transaction just wrote
        return _from_row(self.resource, row)

    def check_version(
        self, row: sqlite3.Row, expected: int | None, *, source: tuple[Location, str]
    ) -> None:
        """412 with the current record when the client's expected version is stale."""
        if expected is not None and expected != row["version"]:
            raise ApiError(
                412,
                "version-mismatch",
                f"The {self.resource.singular} is at version {row['version']}, not {expected}.",
                errors=[fault(*source, f"current version is {row['version']}")],
                current_version=row["version"],
                current=_from_row(self.resource, row),
            )

    def update(
        self, row: sqlite3.Row, values: Mapping[str, Any], *, source: tuple[Location, str]
    ) -> tuple[Record, bool]:
        """Apply the fields that differ; returns the record and whether anything changed.

        ``source`` names what picked the record, blamed if it is a tombstone.
        """
        if row["deleted_at"] is not None:
            raise ApiError(
                409,
                "gone",
                f"{self.resource.singular.capitalize()} {row['id']} is deleted.",
                errors=[fault(*source, "the record is deleted")],
            )
        # Stored values are in the same canonical form _to_db produces, so equality is exact.
        changes = {k: v for k, v in values.items() if _to_db(v) != row[k]}
        if not changes:
            return _from_row(self.resource, row), False
        self.check(changes, row["id"])
        assignments = ", ".join(f"{name} = ?" for name in changes)
        self.conn.execute(
            f"UPDATE {self.resource.name} SET {assignments}, "  # noqa: S608
            "updated_at = ?, version = version + 1 WHERE id = ?",
            (*(_to_db(v) for v in changes.values()), self.clock.tick(), row["id"]),
        )
        return self.record(row["id"]), True

    def delete(self, row: sqlite3.Row) -> Record:
        if row["deleted_at"] is not None:
            return _from_row(self.resource, row)
        now = self.clock.tick()
        self.conn.execute(
            f"UPDATE {self.resource.name} SET deleted_at = ?, updated_at = ?, "  # noqa: S608
            "version = version + 1 WHERE id = ?",
            (now, now, row["id"]),
        )
        return self.record(row["id"])


def _validate(model: type[BaseModel], item: Any, *, partial: bool) -> dict[str, Any]:
    """Validate one bulk item; 422 naming the item's fields at fault.

    ``partial`` keeps only the fields the item sets (an update); otherwise defaults are filled.
    """
    try:
        parsed = model.model_validate(item)
    except ValidationError as error:
        raise ApiError(
            422,
            "validation-error",
            "The record is not valid.",
            errors=validation_faults(error.errors(), in_request=False, whole="record"),
        ) from None
    return parsed.model_dump(exclude_unset=partial)


class Store:
    """The record operations of the contract over one :class:`Database`."""

    def __init__(self, path: Path) -> None:
        self.db = Database(path)

    def close(self) -> None:
        """Release the database."""
        self.db.close()

    def get(self, resource: Resource, record_id: int) -> Record:
        """One record, tombstones included."""
        with self.db.read() as conn:
            row = conn.execute(
                f"SELECT * FROM {resource.name} WHERE id = ?",  # noqa: S608
                (record_id,),
            ).fetchone()
        if row is None:
            raise _not_found(resource, record_id)
        return _from_row(resource, row)

    def list(
        self,
        resource: Resource,
        *,
        updated_since: datetime | None = None,
        cursor: str | None = None,
        limit: int = 100,
        include_deleted: bool = False,
    ) -> tuple[list[Record], str | None]:
        """One page ordered by (updated_at, id), and the cursor of the next one (or None)."""
        after = decode_cursor(cursor) if cursor else (-1, -1)
        since = to_micros(updated_since) if updated_since else -1
        deleted = "" if include_deleted else "AND deleted_at IS NULL"
        with self.db.read() as conn:
            rows = conn.execute(
                f"SELECT * FROM {resource.name} "  # noqa: S608
                f"WHERE updated_at >= ? AND (updated_at, id) > (?, ?) {deleted} "
                "ORDER BY updated_at, id LIMIT ?",
                (since, *after, limit + 1),
            ).fetchall()
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            next_cursor = encode_cursor(rows[-1]["updated_at"], rows[-1]["id"])
        return [_from_row(resource, row) for row in rows], next_cursor

    def create(
        self, resource: Resource, values: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> tuple[int, Record, bool]:
        """Create a record: (status, body, replayed). A known key replays its first response."""
        with self.db.write() as conn:
            if idempotency_key is not None:
                stored = conn.execute(
                    "SELECT status, body FROM idempotency_keys WHERE resource = ? AND key = ?",
                    (resource.name, idempotency_key),
                ).fetchone()
                if stored is not None:
                    return stored["status"], json.loads(stored["body"]), True
            write = _Write(conn, resource)
            record = write.insert(values)
            if idempotency_key is not None:
                conn.execute(
                    "INSERT INTO idempotency_keys (resource, key, status, body, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (resource.name, idempotency_key, 201, json.dumps(record), write.clock.tick()),
                )
        return 201, record, False

    def patch(
        self,
        resource: Resource,
        record_id: int,
        values: Mapping[str, Any],
        *,
        expected_version: int | None = None,
    ) -> Record:
        """Change the given fields; a patch that changes nothing leaves the record untouched."""
        with self.db.write() as conn:
            write = _Write(conn, resource)
            row = write.fetch(record_id)
            if row is None:
                raise _not_found(resource, record_id)
            write.check_version(row, expected_version, source=_IF_MATCH)
            record, _ = write.update(row, values, source=("parameter", "id"))
        return record

    def delete(
        self, resource: Resource, record_id: int, *, expected_version: int | None = None
    ) -> Record:
        """Soft-delete (tombstone); deleting a tombstone again changes nothing."""
        with self.db.write() as conn:
            write = _Write(conn, resource)
            row = write.fetch(record_id)
            if row is None:
                raise _not_found(resource, record_id)
            write.check_version(row, expected_version, source=_IF_MATCH)
            return write.delete(row)

    def bulk_upsert(self, resource: Resource, items: Iterable[Any]) -> list[dict[str, Any]]:
        """Upsert items in one transaction; each item succeeds or fails alone (SAVEPOINTs)."""
        results = []
        with self.db.write() as conn:
            write = _Write(conn, resource)
            for index, item in enumerate(items):
                conn.execute("SAVEPOINT item")
                try:
                    status, record = self._upsert_one(write, item)
                except ApiError as problem:
                    conn.execute("ROLLBACK TO item")
                    results.append(_bulk_result(index, "error", None, problem))
                else:
                    results.append(_bulk_result(index, status, record, None))
                conn.execute("RELEASE item")
        return results

    def _upsert_one(self, write: _Write, item: Any) -> tuple[str, Record]:
        resource = write.resource
        values = _validate(resource.bulk_item, item, partial=True)
        record_id = values.pop("id", None)
        expected_version = values.pop("version", None)
        if record_id is not None:
            row = write.fetch(record_id)
            if row is None:
                raise _not_found(resource, record_id, ("field", "id"))
        elif values.get("external_id") is not None:
            row = write.fetch_by_external_id(values["external_id"])
        else:
            row = None
        if row is None:
            create = _validate(resource.create, item_without_keys(item), partial=False)
            return "created", write.insert(create)
        write.check_version(row, expected_version, source=("field", "version"))
        key = "id" if record_id is not None else "external_id"
        record, changed = write.update(row, values, source=("field", key))
        return ("updated" if changed else "unchanged"), record

    def find_by_external_id(self, resource: Resource, external_id: str) -> Record | None:
        """The record holding an external_id (tombstones included), if any."""
        with self.db.read() as conn:
            row = conn.execute(
                f"SELECT * FROM {resource.name} WHERE external_id = ?",  # noqa: S608
                (external_id,),
            ).fetchone()
        return None if row is None else _from_row(resource, row)


def item_without_keys(item: Mapping[str, Any]) -> dict[str, Any]:
    """A bulk item minus its lookup keys, i.e. the body of a create."""
    return {k: v for k, v in item.items() if k not in {"id", "version"}}


def _bulk_result(
    index: int, status: str, record: Record | None, problem: ApiError | None
) -> dict[str, Any]:
    return {
        "index": index,
        "status": status,
        "id": record["id"] if record else None,
        "version": record["version"] if record else None,
        "record": record,
        "error": problem.to_dict() if problem else None,
    }

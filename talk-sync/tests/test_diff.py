"""Field-level diff against the destination's last-known snapshot."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from talk_sync.diff import apply_changes, diff
from talk_sync.flows import FLOWS
from talk_sync.normalize import FieldType, canonical
from talk_sync.testing.strategies import records, respell_record

# No deadline: the CPUs are shared with other suites, and speed is not what is tested.
PROPERTY = settings(max_examples=100, deadline=None)

TASK_FIELDS = FLOWS[4].custompms_fields
ALL_FIELD_SETS = st.sampled_from(
    [fields for flow in FLOWS for fields in (flow.asana_fields, flow.custompms_fields)]
)


def test_only_changed_fields() -> None:
    snapshot = {"name": "Plan", "description": None, "due_date": "2026-01-02", "status": "open"}
    desired = {"name": "Plan", "description": "", "due_date": "2026-01-03", "status": "done"}
    assert diff(desired, snapshot, TASK_FIELDS) == {"due_date": "2026-01-03", "status": "done"}


def test_snapshot_fields_not_desired_are_ignored() -> None:
    snapshot = {"name": "Plan", "version": 7, "updated_at": "2026-01-01T00:00:00Z"}
    assert diff({"name": "Plan"}, snapshot, TASK_FIELDS) == {}


def test_missing_snapshot_field_counts_as_empty() -> None:
    assert diff({"description": None, "name": "x"}, {"name": "x"}, TASK_FIELDS) == {}
    assert diff({"description": "d"}, {}, TASK_FIELDS) == {"description": "d"}


def test_no_snapshot_means_everything() -> None:
    assert diff({"name": "x", "description": None}, None) == {"name": "x", "description": None}


def test_apply() -> None:
    assert apply_changes({"name": "a", "status": "open"}, {"status": "done"}) == {
        "name": "a",
        "status": "done",
    }
    assert apply_changes(None, {"name": "a"}) == {"name": "a"}


@PROPERTY
@given(st.data())
def test_diff_of_a_record_with_itself_is_empty(data: st.DataObject) -> None:
    fields = data.draw(ALL_FIELD_SETS)
    record = data.draw(records(fields))
    assert diff(record, record, fields) == {}
    # ... and with any other spelling of it: no spurious writes.
    assert diff(data.draw(respell_record(record, fields)), record, fields) == {}


@PROPERTY
@given(st.data())
def test_applying_the_diff_yields_the_desired_values(data: st.DataObject) -> None:
    fields = data.draw(ALL_FIELD_SETS)
    desired: dict[str, Any] = data.draw(records(fields))
    snapshot: dict[str, Any] = data.draw(records(fields))
    changes = diff(desired, snapshot, fields)
    assert set(changes) <= set(desired)
    after = apply_changes(snapshot, changes)
    assert _canonical(after, fields) == _canonical(desired, fields)
    assert diff(desired, after, fields) == {}


def _canonical(record: Mapping[str, Any], fields: Mapping[str, FieldType]) -> dict[str, Any]:
    """Every field of ``record`` in its canonical form (fields not in ``fields`` as ``ANY``)."""
    return {
        name: canonical(value, fields.get(name, FieldType.ANY)) for name, value in record.items()
    }

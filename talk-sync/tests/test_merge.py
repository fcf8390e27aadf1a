"""Three-way merge: one-sided edits are kept, conflicts follow the policy and are reported."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from talk_sync.flows import FLOWS
from talk_sync.merge import ConflictPolicy, merge
from talk_sync.normalize import FieldType, canonical, same
from talk_sync.policies import policy_for
from talk_sync.refs import Side
from talk_sync.testing.strategies import changed, records, respell_record

# No deadline: the CPUs are shared with other suites, and speed is not what is tested.
PROPERTY = settings(max_examples=60, deadline=None)

TASK = FLOWS[4].custompms_fields
EARLY, LATE = "2026-01-01T10:00:00Z", "2026-01-01T10:00:00.001+00:00"


def test_different_fields_edited_on_each_side_are_both_kept() -> None:
    base = {"name": "Plan", "description": "old", "status": "open"}
    ours = {"name": "Plan v2", "description": "old", "status": "open"}  # Asana renamed it
    theirs = {"name": "Plan", "description": "new", "status": "open"}  # Custompms edited notes
    result = merge(base, ours, theirs, source=Side.ASANA, field_types=TASK)
    assert result.merged == {"name": "Plan v2", "description": "new", "status": "open"}
    assert result.to_destination == {"name": "Plan v2"}
    assert result.to_source == {"description": "new"}
    assert result.conflicts == []


def test_same_edit_on_both_sides_is_no_conflict() -> None:
    base = {"due_date": "2026-01-01"}
    result = merge(
        base,
        {"due_date": "2026-02-02"},
        {"due_date": "2026-02-02T00:00:00Z"},
        source="asana",
        field_types=TASK,
    )
    assert (result.to_destination, result.to_source, result.conflicts) == ({}, {}, [])


@pytest.mark.parametrize(
    ("asana_at", "custompms_at", "winner"),
    [
        (LATE, EARLY, Side.ASANA),
        (EARLY, LATE, Side.CUSTOMPMS),
        (EARLY, "2026-01-01T11:00:00+01:00", Side.CUSTOMPMS),  # same instant: tie
        (None, EARLY, Side.CUSTOMPMS),  # Asana teams have no timestamps: tie rule
    ],
)
def test_newer_wins(asana_at: str | None, custompms_at: str, winner: Side) -> None:
    result = merge(
        {"name": "base"},
        {"name": "asana"},
        {"name": "custompms"},
        source=Side.ASANA,
        ours_modified_at=asana_at,
        theirs_modified_at=custompms_at,
    )
    (conflict,) = result.conflicts
    assert (conflict.field, conflict.base, conflict.ours, conflict.theirs) == (
        "name",
        "base",
        "asana",
        "custompms",
    )
    assert conflict.winner is winner
    assert conflict.reason.startswith("newer_wins")
    assert result.merged == {"name": winner.value}
    if winner is Side.ASANA:
        assert (result.to_destination, result.to_source) == ({"name": "asana"}, {})
    else:
        assert (result.to_destination, result.to_source) == ({}, {"name": "custompms"})


def test_tie_winner_is_configurable() -> None:
    result = merge(
        {"name": "b"}, {"name": "o"}, {"name": "t"}, source=Side.CUSTOMPMS, tie_winner=Side.ASANA
    )
    assert result.conflicts[0].winner is Side.ASANA
    assert result.merged == {"name": "t"}


@pytest.mark.parametrize("source", list(Side))
@pytest.mark.parametrize(
    ("policy", "winner"),
    [(ConflictPolicy.ASANA_WINS, Side.ASANA), (ConflictPolicy.CUSTOMPMS_WINS, Side.CUSTOMPMS)],
)
def test_fixed_policies_ignore_timestamps(
    source: Side, policy: ConflictPolicy, winner: Side
) -> None:
    values = {source: {"name": f"{source}"}, source.other: {"name": f"{source.other}"}}
    result = merge(
        {"name": "base"},
        values[source],
        values[source.other],
        source=source,
        policy=policy.value,
        ours_modified_at=LATE if winner is not source else EARLY,
        theirs_modified_at=EARLY if winner is not source else LATE,
    )
    assert result.merged == {"name": winner.value}
    assert result.conflicts[0].winner is winner
    assert result.conflicts[0].reason == f"policy {policy}"


def test_field_missing_from_theirs_counts_as_unchanged() -> None:
    result = merge({"name": "a"}, {"name": "b"}, {}, source=Side.ASANA)
    assert result.to_destination == {"name": "b"}
    assert result.conflicts == []


def test_policy_for_flow() -> None:
    assert policy_for(None, 1) is ConflictPolicy.NEWER_WINS
    assert policy_for("asana_wins", "task_task") is ConflictPolicy.ASANA_WINS
    setting = {"default": "custompms_wins", "task_task": "asana_wins", "3": "newer_wins"}
    assert policy_for(setting, 5) is ConflictPolicy.ASANA_WINS
    assert policy_for(setting, "project_project") is ConflictPolicy.NEWER_WINS
    assert policy_for(setting, 1) is ConflictPolicy.CUSTOMPMS_WINS
    assert policy_for({}, 1) is ConflictPolicy.NEWER_WINS
    with pytest.raises(ValueError, match="'oldest_wins'"):
        policy_for("oldest_wins", 1)


# --- properties ----------------------------------------------------------------------------

STAMPS = st.none() | st.sampled_from([EARLY, LATE, "2026-01-02T00:00:00+05:00"])
POLICIES = st.sampled_from(list(ConflictPolicy))


@st.composite
def three_way(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """base, ours, theirs for the Custompms task fields; each field kept or edited per side."""
    base = draw(records(TASK))
    ours, theirs = dict(base), dict(base)
    for name, kind in TASK.items():
        for side in (ours, theirs):
            if draw(st.booleans()):
                side[name] = draw(changed(base[name], kind))
    return base, draw(respell_record(ours, TASK)), draw(respell_record(theirs, TASK))


def _same_record(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(same(a[name], b[name], TASK[name]) for name in a)


@PROPERTY
@given(three_way(), st.sampled_from(list(Side)), POLICIES, STAMPS, STAMPS)
def test_no_one_sided_edit_is_lost(
    records3: tuple[dict[str, Any], dict[str, Any], dict[str, Any]],
    source: Side,
    policy: ConflictPolicy,
    ours_at: str | None,
    theirs_at: str | None,
) -> None:
    base, ours, theirs = records3
    result = merge(
        base,
        ours,
        theirs,
        source=source,
        policy=policy,
        field_types=TASK,
        ours_modified_at=ours_at,
        theirs_modified_at=theirs_at,
    )
    conflicted = {conflict.field for conflict in result.conflicts}
    for name, kind in TASK.items():
        ours_changed = not same(ours[name], base[name], kind)
        theirs_changed = not same(theirs[name], base[name], kind)
        merged = result.merged[name]
        if ours_changed and not theirs_changed:
            assert same(merged, ours[name], kind)
        elif theirs_changed and not ours_changed:
            assert same(merged, theirs[name], kind)
        elif not ours_changed:
            assert same(merged, base[name], kind)
        # every field edited differently on both sides is reported, and only those
        both = ours_changed and theirs_changed and not same(ours[name], theirs[name], kind)
        assert (name in conflicted) == both
    # what is written makes each side equal to the merge, and nothing else is written
    assert _same_record({**theirs, **result.to_destination}, result.merged)
    assert _same_record({**ours, **result.to_source}, result.merged)
    for name in result.to_destination:
        assert not same(theirs[name], result.merged[name], TASK[name])


@PROPERTY
@given(st.data(), st.sampled_from(list(Side)), POLICIES, STAMPS, STAMPS)
def test_identical_sides_merge_to_a_no_op(
    data: st.DataObject, source: Side, policy: ConflictPolicy, ours_at: Any, theirs_at: Any
) -> None:
    base = data.draw(records(TASK))
    ours = data.draw(respell_record(base, TASK))
    theirs = data.draw(respell_record(base, TASK))
    result = merge(
        base,
        ours,
        theirs,
        source=source,
        policy=policy,
        field_types=TASK,
        ours_modified_at=ours_at,
        theirs_modified_at=theirs_at,
    )
    assert (result.to_destination, result.to_source, result.conflicts) == ({}, {}, [])
    # both sides edited identically (whatever the base): still nothing to do
    edited = data.draw(records(TASK))
    result = merge(
        base,
        edited,
        data.draw(respell_record(edited, TASK)),
        source=source,
        policy=policy,
        field_types=TASK,
    )
    assert (result.to_destination, result.to_source, result.conflicts) == ({}, {}, [])


@PROPERTY
@given(three_way(), POLICIES, STAMPS, STAMPS)
def test_both_pipelines_decide_the_same(
    records3: tuple[dict[str, Any], dict[str, Any], dict[str, Any]],
    policy: ConflictPolicy,
    asana_at: str | None,
    custompms_at: str | None,
) -> None:
    # The Asana -> Custompms pipeline (ours = Asana) and the Custompms -> Asana pipeline
    # (ours = Custompms) must merge the same edits to the same values.
    base, asana, custompms = records3
    forward = merge(
        base,
        asana,
        custompms,
        source=Side.ASANA,
        policy=policy,
        field_types=TASK,
        ours_modified_at=asana_at,
        theirs_modified_at=custompms_at,
    )
    backward = merge(
        base,
        custompms,
        asana,
        source=Side.CUSTOMPMS,
        policy=policy,
        field_types=TASK,
        ours_modified_at=custompms_at,
        theirs_modified_at=asana_at,
    )
    assert _same_record(forward.merged, backward.merged)
    assert sorted((c.field, c.winner) for c in forward.conflicts) == sorted(
        (c.field, c.winner) for c in backward.conflicts
    )
    assert _same_record({**forward.to_destination}, {**backward.to_source})
    assert _same_record({**forward.to_source}, {**backward.to_destination})


@PROPERTY
@given(three_way(), st.sampled_from(list(Side)))
def test_fixed_policy_winner_takes_every_conflict(
    records3: tuple[dict[str, Any], dict[str, Any], dict[str, Any]], source: Side
) -> None:
    base, ours, theirs = records3
    for policy, winner in (
        (ConflictPolicy.ASANA_WINS, Side.ASANA),
        (ConflictPolicy.CUSTOMPMS_WINS, Side.CUSTOMPMS),
    ):
        result = merge(base, ours, theirs, source=source, policy=policy, field_types=TASK)
        winning = ours if winner is source else theirs
        for conflict in result.conflicts:
            assert conflict.winner is winner
            kind = TASK[conflict.field]
            assert same(result.merged[conflict.field], winning[conflict.field], kind)


@PROPERTY
@given(three_way(), st.sampled_from(list(Side)))
def test_newer_edit_wins_every_conflict(
    records3: tuple[dict[str, Any], dict[str, Any], dict[str, Any]], source: Side
) -> None:
    base, ours, theirs = records3
    assume(any(not same(ours[n], theirs[n], k) for n, k in TASK.items()))
    result = merge(
        base,
        ours,
        theirs,
        source=source,
        ours_modified_at=EARLY,
        theirs_modified_at=LATE,
        field_types=TASK,
    )
    for conflict in result.conflicts:
        assert conflict.winner is source.other
        assert canonical(result.merged[conflict.field], TASK[conflict.field]) == canonical(
            theirs[conflict.field], FieldType(TASK[conflict.field])
        )

"""Namespaced references: parsing, formatting and the errors users see."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from talk_sync.refs import RECORD_TYPES, Ref, RefError, Side, format_ref, parse_ref

# No deadline: the CPUs are shared with other suites, and speed is not what is tested.
PROPERTY = settings(max_examples=100, deadline=None)


@pytest.mark.parametrize(
    ("text", "side", "record_type", "key"),
    [
        ("asana-workspace:1", Side.ASANA, "workspace", "1"),
        ("asana-team:123", Side.ASANA, "team", "123"),
        ("asana-project:9", Side.ASANA, "project", "9"),
        ("asana-task:1201234567890", Side.ASANA, "task", "1201234567890"),
        ("custompms-customer:42", Side.CUSTOMPMS, "customer", "42"),
        ("custompms-project:5", Side.CUSTOMPMS, "project", "5"),
        ("custompms-task:8", Side.CUSTOMPMS, "task", "8"),
    ],
)
def test_parse_and_format(text: str, side: Side, record_type: str, key: str) -> None:
    ref = parse_ref(text)
    assert (ref.side, ref.type, ref.key) == (side, record_type, key)
    assert str(ref) == text
    assert format_ref(side.value, record_type, key) == text
    assert parse_ref(ref) is ref


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("asana-task", "asana-task"),
        ("task:77", "task:77"),
        ("jira-issue:1", "jira"),
        ("asana-customer:1", "customer"),
        ("custompms-task:abc", "'abc'"),
        ("custompms-task:0", "'0'"),
        ("asana-task:", "asana-task:"),
        ("asana-task:7 7", "'7 7'"),
        (77, "77"),
        (None, "None"),
    ],
)
def test_bad_values_are_named(bad: object, message: str) -> None:
    with pytest.raises(RefError, match=message.replace("(", r"\(")):
        parse_ref(bad)


def test_format_validates() -> None:
    assert format_ref(Side.CUSTOMPMS, "customer", 42) == "custompms-customer:42"
    with pytest.raises(RefError, match="unknown side 'trello'"):
        format_ref("trello", "card", 1)


def test_native_key_and_other_side() -> None:
    assert parse_ref("custompms-task:8").native_key == 8
    assert parse_ref("asana-task:8").native_key == "8"
    assert Side.ASANA.other is Side.CUSTOMPMS
    assert Side.CUSTOMPMS.other is Side.ASANA


@PROPERTY
@given(
    st.sampled_from([(side, t) for side, types in RECORD_TYPES.items() for t in sorted(types)]),
    st.integers(min_value=1, max_value=10**16),
)
def test_format_parse_round_trip(side_type: tuple[Side, str], key: int) -> None:
    side, record_type = side_type
    text = format_ref(side, record_type, key)
    assert parse_ref(text) == Ref(side, record_type, str(key))
    assert str(parse_ref(text)) == text

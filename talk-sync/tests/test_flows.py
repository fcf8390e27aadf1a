"""The flow descriptors."""

from __future__ import annotations

import pytest
from talk_sync.flows import FLOWS, flow_for, get_flow
from talk_sync.normalize import FieldType
from talk_sync.refs import RECORD_TYPES, Side


def test_five_flows_by_number_and_name() -> None:
    assert [flow.number for flow in FLOWS] == [1, 2, 3, 4, 5]
    for flow in FLOWS:
        assert get_flow(flow.number) is flow
        assert get_flow(str(flow.number)) is flow
        assert get_flow(flow.name) is flow
        assert get_flow(flow) is flow
        assert flow.asana_type in RECORD_TYPES[Side.ASANA]
        assert flow.custompms_type in RECORD_TYPES[Side.CUSTOMPMS]
        assert flow.record_type("asana") == flow.asana_type
        assert flow.fields(Side.CUSTOMPMS) is flow.custompms_fields
        assert flow.fields(Side.ASANA)["name"] is FieldType.TEXT


def test_flow_for_record_types() -> None:
    assert flow_for("task", "project").name == "board_task_project"
    assert flow_for("task", "task").number == 5
    assert flow_for("team", "customer").number == 2
    with pytest.raises(ValueError, match="'team'"):
        flow_for("team", "task")


def test_unknown_flow_named() -> None:
    with pytest.raises(ValueError, match="unknown flow 'epic_story'"):
        get_flow("epic_story")
    with pytest.raises(ValueError, match="unknown flow 6"):
        get_flow(6)

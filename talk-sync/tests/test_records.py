"""Reading a side's API record as a flow's synced values."""

from __future__ import annotations

from talk_sync.records import synced_values


def test_synced_values_flattens_asana_references() -> None:
    task = {
        "gid": "5",
        "name": "Kickoff",
        "assignee": {"gid": "9", "email": "Priya@Example.com"},
        "parent": {"gid": "4", "name": "ERP"},
        "memberships": [{"project": {"gid": "3", "name": "Board"}}],
        "custom_fields": [],
    }
    assert synced_values(5, "asana", task) == {
        "name": "Kickoff",
        "assignee": "Priya@Example.com",
        "parent": "4",
        "project": "3",
    }
    assert synced_values(5, "asana", {"memberships": []}) == {"project": None}
    # A membership of another kind (no project) is passed over, not taken for the home.
    other_kind = {"memberships": [{"section": None}, {"project": None}, *task["memberships"]]}
    assert synced_values(5, "asana", other_kind) == {"project": "3"}
    assert synced_values(5, "asana", {"memberships": [{"section": None}]}) == {"project": None}
    team = {"gid": "2", "name": "Delivery", "organization": {"gid": "1"}}
    assert synced_values(2, "asana", team)["organization"] == "1"

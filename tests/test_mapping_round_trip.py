"""The mapping round-trips: Asana -> Custompms -> Asana gives back Asana's values.

Both targets' stream maps run through the SDK's own mapper (what the targets do with every
record), on records hypothesis generates in the taps' schemas, in both configurations a
target meets: its built-in maps (no settings) and the config meltano.yml gives it (its
``stream_maps`` override, if it sets one, and its boards), resolved the way the targets
resolve them (``talk_sync.builtin_maps.stream_mapper``). A value that changed shape on the
way (a date as a timestamp, empty text as null, an email's case, whitespace) would be written
back on the next sync: an echo that never stops. References (ids) are resolved through the
link store, not mapped, so they are left out here; the end-to-end tests cover them.
"""

from __future__ import annotations

import logging
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from local_stack import PROJECT_ROOT
from singer_sdk.mapper import PluginMapper
from talk_sync import Side, get_flow
from talk_sync.builtin_maps import stream_mapper
from talk_sync.normalize import FieldType, same
from talk_sync.records import synced_values

#: Each target's package, which ships its built-in maps.
PACKAGES = {"target-custompms": "target_custompms", "target-asana-talk": "target_asana_talk"}
#: Where a target's config comes from: none (its built-in maps), or meltano.yml's block.
CONFIGS = ("built-in", "meltano.yml")


def loader_config(loader: str, source: str) -> dict[str, Any]:
    """The loader's config: empty, or meltano.yml's (its ${VAR} values left unexpanded)."""
    if source == "built-in":
        return {}
    if source == "built-in+board":
        return {"project_board_names": ["Client projects"]}
    project = yaml.safe_load(Path(PROJECT_ROOT / "meltano.yml").read_text())
    block = next(p for p in project["plugins"]["loaders"] if p["name"] == loader)
    return dict(block.get("config") or {})


@cache
def mapper(loader: str, source: str) -> PluginMapper:
    """The SDK mapper configured as the loader configures it from ``source``."""
    return stream_mapper(loader_config(loader, source), PACKAGES[loader], logging.getLogger(loader))


def mapped(
    loader: str, stream: str, alias: str, record: dict[str, Any], source: str = "built-in"
) -> dict[str, Any] | None:
    """``record`` of ``stream`` through the loader's map named ``alias`` (None: filtered out)."""
    plugin_mapper = mapper(loader, source)
    if stream not in plugin_mapper.stream_maps:
        schema = {"type": "object", "properties": {name: {} for name in record}}
        plugin_mapper.register_raw_stream_schema(stream, schema, ["id"])
    for stream_map in plugin_mapper.stream_maps[stream]:
        if stream_map.stream_alias == alias:
            return stream_map.transform(record)
    raise AssertionError(f"{loader} has no map {alias} for {stream}")


def assert_round_trip(flow_name: str, original: dict[str, Any], back: dict[str, Any]) -> None:
    flow = get_flow(flow_name)
    expected = synced_values(flow, Side.ASANA, original)
    for name, kind in flow.asana_fields.items():
        if kind is FieldType.ID or name not in back or name == "permalink_url":
            continue  # references resolve through links; permalinks are Asana's own
        assert same(expected.get(name), back[name], kind), (flow_name, name, expected, back)


text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
names = text.filter(lambda value: value.strip() != "")
optional_text = st.none() | st.just("") | text
dates = st.none() | st.dates(date(2000, 1, 1), date(2100, 12, 31)).map(date.isoformat)
emails = st.none() | st.sampled_from(["alex.morgan@acme.example", "Priya.Shah@ACME.example"])
user = emails.map(lambda email: {"gid": "9", "email": email} if email else None)


@st.composite
def asana_tasks(draw: st.DrawFn) -> dict[str, Any]:
    completed = draw(st.booleans())
    return {
        "gid": "1201",
        "name": draw(names),
        "notes": draw(optional_text),
        "completed": completed,
        "completed_at": "2026-03-04T05:06:07.890Z" if completed else None,
        "start_on": draw(dates),
        "due_on": draw(dates),
        "due_at": None,
        "assignee": draw(user),
        "parent": None,
        "memberships": [{"project": {"gid": "77", "name": "Website"}, "section": None}],
        "permalink_url": "https://app.asana.com/0/77/1201",
        "is_deleted": False,
    }


@st.composite
def asana_projects(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "gid": "77",
        "name": draw(names),
        "notes": draw(optional_text),
        "archived": draw(st.booleans()),
        "completed": False,  # read-only in Asana's API: it never comes back from Custompms
        "start_on": draw(dates),
        "due_on": draw(dates),
        "owner": draw(user),
        "team": {"gid": "12", "name": "Delivery"},
        "workspace": {"gid": "1", "name": "Acme"},
        "permalink_url": "https://app.asana.com/0/77",
        "is_deleted": False,
    }


def stored_in_custompms(values: dict[str, Any], record_id: int = 8) -> dict[str, Any]:
    """What the reference server holds after the write: the values plus its own fields."""
    stored = {key: value for key, value in values.items() if not key.startswith("_")}
    stored.pop("external_id", None)
    return {
        **stored,
        "id": record_id,
        "external_id": values.get("external_id"),
        "version": 1,
        "created_at": "2026-03-01T00:00:00.000000Z",
        "updated_at": "2026-03-01T00:00:00.000000Z",
        "deleted_at": None,
    }


ROUND_TRIP_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@pytest.mark.parametrize("config_source", CONFIGS)
@ROUND_TRIP_SETTINGS
@given(task=asana_tasks())
def test_a_task_round_trips_through_both_mappings(config_source: str, task: dict[str, Any]) -> None:
    to_custompms = mapped("target-custompms", "tasks", "task_task", task, config_source)
    assert to_custompms is not None
    custompms = stored_in_custompms(to_custompms)
    custompms.update(project_id=5, parent_task_id=None)  # resolved through the link store
    back = mapped("target-asana-talk", "tasks", "task_task", custompms, config_source)
    assert back is not None
    assert_round_trip("task_task", task, back)


@pytest.mark.parametrize("config_source", CONFIGS)
@ROUND_TRIP_SETTINGS
@given(project=asana_projects())
def test_a_project_round_trips_through_both_mappings(
    config_source: str, project: dict[str, Any]
) -> None:
    to_custompms = mapped("target-custompms", "projects", "project_project", project, config_source)
    assert to_custompms is not None
    custompms = stored_in_custompms(to_custompms, record_id=5)
    custompms.update(customer_id=3)
    back = mapped("target-asana-talk", "projects", "project_project", custompms, config_source)
    assert back is not None
    assert_round_trip("project_project", project, back)


@pytest.mark.parametrize("config_source", CONFIGS)
@ROUND_TRIP_SETTINGS
@given(task=asana_tasks())
def test_a_board_task_round_trips_through_both_mappings(
    config_source: str, task: dict[str, Any]
) -> None:
    """A top-level task of a projects board is a Custompms project, and comes back as itself.

    meltano.yml names the board ``Client projects``; the built-in maps take none by default,
    so there the board is named through the ``project_board_names`` setting.
    """
    board = {"project": {"gid": "78", "name": "Client projects"}, "section": None}
    task = {**task, "memberships": [board]}
    if config_source == "built-in":
        assert mapped("target-custompms", "tasks", "board_task_project", task) is None
        source = "built-in+board"
    else:
        source = config_source
    to_custompms = mapped("target-custompms", "tasks", "board_task_project", task, source)
    assert to_custompms is not None
    assert mapped("target-custompms", "tasks", "task_task", task, source) is None
    assert to_custompms["customer_id"] == "asana-project:78"
    custompms = stored_in_custompms(to_custompms, record_id=6)
    custompms.update(customer_id=3)
    back = mapped("target-asana-talk", "projects", "board_task_project", custompms, source)
    assert back is not None
    assert_round_trip("board_task_project", task, back)


def test_memberships_without_a_project_map_to_a_task_without_one() -> None:
    """Asana may add membership kinds without a ``project``; a task can be in no project."""
    task = {
        "gid": "1201",
        "name": "Only in My Tasks",
        "notes": None,
        "completed": False,
        "completed_at": None,
        "start_on": None,
        "due_on": None,
        "due_at": None,
        "assignee": None,
        "parent": None,
        "memberships": [{"project": {"gid": "77", "name": "Website"}, "section": None}],
        "permalink_url": "https://app.asana.com/0/0/1201",
        "is_deleted": False,
    }
    other_kinds = [{"section": None}, {"project": None}]
    for memberships in (other_kinds, [], None):
        loose = {**task, "memberships": memberships}
        assert mapped("target-custompms", "tasks", "board_task_project", loose) is None
        mapped_task = mapped("target-custompms", "tasks", "task_task", loose)
        assert mapped_task is not None
        assert mapped_task["project_id"] is None

    mixed = {**task, "memberships": [*other_kinds, *task["memberships"]]}
    assert mapped("target-custompms", "tasks", "task_task", mixed)["project_id"] == (
        "asana-project:77"
    )

"""The targets' built-in stream maps: the flow mappings a target uses when none is configured.

Each target ships its direction's mapping as ``stream_maps.yml`` inside its package (the
SDK's stream-maps syntax, the same expressions a project would write in meltano.yml). A
config without ``stream_maps`` maps through it; a config with ``stream_maps`` replaces it
whole, as the SDK's setting always does. *Why a resource and not meltano.yml:* a target
added to another Meltano project must sync without ~100 copied lines of maps.

The maps read two values of ``stream_map_config``: ``project_boards`` (gids) and
``project_board_names`` (names), the Asana projects whose top-level tasks are Custompms
projects (flow 4). They are settings of their own (:func:`board_settings`), so that
``meltano config set`` reaches them; ``stream_map_config`` still wins for keys it sets.
"""

from __future__ import annotations

import copy
import importlib.resources
import logging
from collections.abc import Mapping
from functools import cache
from typing import Any

import yaml
from singer_sdk import typing as th
from singer_sdk.mapper import PluginMapper

from talk_sync.compiled_maps import CompiledMapper

#: The resource each target package ships its built-in maps in.
RESOURCE = "stream_maps.yml"
#: The settings the maps read through ``config[...]``, with their defaults: no boards, so
#: every Asana task is a Custompms task (flow 5) until a board is named.
BOARD_SETTINGS: dict[str, list[str]] = {"project_boards": [], "project_board_names": []}


@cache
def _load(package: str) -> dict[str, Any]:
    text = importlib.resources.files(package).joinpath(RESOURCE).read_text(encoding="utf-8")
    maps = yaml.safe_load(text)
    if not isinstance(maps, dict):
        raise TypeError(f"{package}/{RESOURCE}: expected a mapping of stream maps")
    return maps


def builtin_stream_maps(package: str) -> dict[str, Any]:
    """The stream maps ``package`` ships (a fresh copy: the SDK's mapper edits its input)."""
    return copy.deepcopy(_load(package))


def map_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``stream_map_config`` the maps see: the board settings, then ``stream_map_config``."""
    values: dict[str, Any] = {
        name: list(config.get(name) or default) for name, default in BOARD_SETTINGS.items()
    }
    values.update(config.get("stream_map_config") or {})
    return values


def uses_builtin_maps(config: Mapping[str, Any], package: str | None) -> bool:
    """Whether the mapper runs ``package``'s maps: the config sets no ``stream_maps``.

    An empty ``stream_maps`` (``{}``, what Meltano passes for an unset object setting) counts
    as unset. ``package`` ``None``: no built-in maps.
    """
    return bool(package) and not config.get("stream_maps")


def mapper_config(config: Mapping[str, Any], package: str | None) -> dict[str, Any]:
    """``config`` as the SDK's mapper reads it: ``stream_maps`` defaulted to ``package``'s."""
    maps = config.get("stream_maps") or (_load(package) if package else {})
    return {**config, "stream_maps": copy.deepcopy(maps), "stream_map_config": map_config(config)}


def stream_mapper(
    config: Mapping[str, Any], package: str | None, logger: logging.Logger
) -> PluginMapper:
    """The SDK mapper a target maps its records with (``SyncTarget.setup_mapper``).

    Its built-in maps, its own expressions, run compiled (:mod:`talk_sync.compiled_maps`);
    a config's ``stream_maps`` run on the SDK's mapper exactly as the SDK defines them.
    """
    mapper_class = CompiledMapper if uses_builtin_maps(config, package) else PluginMapper
    return mapper_class(plugin_config=mapper_config(config, package), logger=logger)


def board_settings() -> list[th.Property]:
    """The settings naming the projects boards of flow 4 (both targets read them)."""
    return [
        th.Property(
            "project_boards",
            th.ArrayType(th.StringType),
            default=[],
            title="Projects Boards (GIDs)",
            description=(
                "Asana projects, by gid, whose top-level tasks are Custompms projects (flow 4, "
                "board_task_project) rather than tasks. Default: none, every task is a task. "
                "Set the same value on both targets."
            ),
        ),
        th.Property(
            "project_board_names",
            th.ArrayType(th.StringType),
            default=[],
            title="Projects Boards (names)",
            description=('Like project_boards, by Asana project name, e.g. ["Client projects"].'),
        ),
    ]

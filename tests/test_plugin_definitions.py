"""The plugins' settings agree in the three places a user meets them.

``<plugin> --about`` (the plugin's own ``config_jsonschema``), the Meltano Hub definitions in
hub/ (what ``meltano add --from-ref`` installs) and meltano.yml (what ``meltano config list``
shows in this project): names, kinds, defaults, ``sensitive`` and capabilities. All three
come from --about through scripts/hub_definitions.py (``make hub``).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _load_script() -> ModuleType:
    # scripts/ is no package: load the generator by its path.
    spec = importlib.util.spec_from_file_location(
        "hub_definitions", ROOT / "scripts" / "hub_definitions.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


hub = _load_script()
PLUGIN_NAMES = [plugin.name for plugin in hub.PLUGINS]


@pytest.fixture(scope="module")
def abouts() -> dict[str, dict[str, Any]]:
    return {plugin.name: hub.about(plugin) for plugin in hub.PLUGINS}


def _declared(settings: list[dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    """Per setting what a user relies on: kind, default, sensitive."""
    return {s["name"]: (s.get("kind"), s.get("value"), bool(s.get("sensitive"))) for s in settings}


def _from_about(about: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    properties = about["settings"]["properties"]
    return {
        name: (hub.setting_kind(schema), schema.get("default"), bool(schema.get("secret")))
        for name, schema in properties.items()
    }


def _meltano_yml_plugin(name: str) -> dict[str, Any]:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    plugins = [*project["plugins"]["extractors"], *project["plugins"]["loaders"]]
    return next(p for p in plugins if p["name"] == name)


@pytest.mark.parametrize("name", PLUGIN_NAMES)
def test_meltano_yml_declares_the_settings_and_capabilities_of_about(
    name: str, abouts: dict[str, dict[str, Any]]
) -> None:
    plugin, about = _meltano_yml_plugin(name), abouts[name]
    assert _declared(plugin["settings"]) == _from_about(about), "run `make hub`"
    assert sorted(plugin["capabilities"]) == sorted(about["capabilities"]), "run `make hub`"


@pytest.mark.parametrize("plugin", hub.PLUGINS, ids=PLUGIN_NAMES)
def test_hub_definition_declares_the_settings_and_capabilities_of_about(
    plugin: Any, abouts: dict[str, dict[str, Any]]
) -> None:
    path = hub.hub_path(plugin)
    assert path.exists(), f"{path.relative_to(ROOT)} is missing: run `make hub`"
    definition, about = yaml.safe_load(path.read_text()), abouts[plugin.name]
    assert _declared(definition["settings"]) == _from_about(about), "run `make hub`"
    assert sorted(definition["capabilities"]) == sorted(about["capabilities"])
    for key in ("name", "namespace", "variant", "repo", "pip_url", "label", "keywords"):
        assert definition.get(key), f"{path.relative_to(ROOT)}: no {key}"
    # The shared core is installed beside the plugin: a pip_url is one or more URLs.
    assert f"subdirectory={hub.CORE}" in definition["pip_url"]
    assert definition["pip_url"].endswith(f"subdirectory={plugin.package}")


@pytest.mark.parametrize("name", PLUGIN_NAMES)
def test_every_setting_has_a_label_and_a_description(
    name: str, abouts: dict[str, dict[str, Any]]
) -> None:
    properties = abouts[name]["settings"]["properties"]
    undescribed = [n for n, schema in properties.items() if not schema.get("description")]
    untitled = [n for n, schema in properties.items() if not schema.get("title")]
    assert (undescribed, untitled) == ([], [])


def test_generated_files_are_what_make_hub_writes() -> None:
    """Everything else the generator writes (labels, descriptions, order, the Hub's keys)."""
    stale = [
        str(path.relative_to(ROOT))
        for path, content in hub.expected().items()
        if not path.exists() or path.read_text() != content
    ]
    assert stale == [], "not what the plugins' --about says: run `make hub`"


def test_every_package_states_one_version_and_one_requires_python() -> None:
    """Released together, required by version (``talk-sync>=0.2,<0.3``), run by CI on the
    versions requires-python states (``make test-pythons`` reads talk-sync's)."""
    stated = {
        path.parent.name: (
            re.search(r'^version = "(.+)"$', text, re.MULTILINE),
            re.search(r'^requires-python = "(.+)"$', text, re.MULTILINE),
        )
        for path in sorted(ROOT.glob("*/pyproject.toml"))
        for text in [path.read_text()]
    }
    values = {
        name: tuple(m.group(1) if m else None for m in found) for name, found in stated.items()
    }
    assert len(set(values.values())) == 1, values

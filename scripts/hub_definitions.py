"""The plugins' Meltano Hub definitions and meltano.yml's plugin settings, from their --about.

``make hub`` (``--write``) writes ``hub/<type>/<name>/<variant>.yml`` for each of the four
plugins, in the Hub's plugin definition format (``meltano add --from-ref`` reads them), and
rewrites the ``capabilities``, ``settings`` and ``settings_group_validation`` of the same
plugins in meltano.yml. ``--check`` changes nothing and exits 1, naming what differs, when
either is not what the plugins' ``--about`` says (tests/test_plugin_definitions.py runs it).

One source, so the three cannot drift: a plugin's settings (name, kind, label, description,
default, ``sensitive``) and capabilities are declared once, in its ``config_jsonschema``.
The repository's public URL is read from talk-sync's ``[project.urls] Repository``.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import io
import json
import re
import sys
from dataclasses import dataclass
from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
HUB = ROOT / "hub"
MELTANO_YML = ROOT / "meltano.yml"


@dataclass(frozen=True)
class Plugin:
    """One of the four plugins, as the Hub lists it."""

    name: str
    kind: str  # the Hub's folder: extractors or loaders
    label: str
    keywords: tuple[str, ...]

    @property
    def package(self) -> str:
        """The plugin's folder in the repository (its pyproject's)."""
        return self.name


PLUGINS = (
    Plugin("tap-asana-talk", "extractors", "Asana (talk-sync)", ("asana", "project management")),
    Plugin("tap-custompms", "extractors", "Custompms", ("custompms", "project management")),
    Plugin("target-custompms", "loaders", "Custompms (talk-sync)", ("custompms", "two-way sync")),
    Plugin("target-asana-talk", "loaders", "Asana (talk-sync)", ("asana", "two-way sync")),
)
#: The shared core: every plugin's pip_url installs it beside the plugin.
CORE = "talk-sync"
KEYWORDS = ("meltano_sdk", "talk-sync")


def repository_url() -> str:
    """The repository's public URL: talk-sync's ``[project.urls] Repository``."""
    # A line of talk-sync's pyproject (tomllib needs Python 3.11; the line is simple).
    pyproject = (ROOT / CORE / "pyproject.toml").read_text()
    found = re.search(r'^Repository = "([^"]+)"$', pyproject, re.MULTILINE)
    if found is None:
        raise SystemExit(f"{CORE}/pyproject.toml: no [project.urls] Repository")
    return found.group(1).rstrip("/")


def variant() -> str:
    """The Hub's variant: the repository's owner, as the Hub names variants."""
    return repository_url().split("/")[-2].lower()


def pip_url(plugin: Plugin) -> str:
    """Git URLs of the shared core and the plugin: neither is on PyPI yet."""
    repo = repository_url()
    return " ".join(f"git+{repo}.git#subdirectory={folder}" for folder in (CORE, plugin.package))


def about(plugin: Plugin) -> dict[str, Any]:
    """What ``<plugin> --about --format=json`` prints, from this interpreter's environment.

    The plugin's class prints it here, as its console script would: the same output without
    starting four interpreters.
    """
    (entry_point,) = entry_points(group="console_scripts", name=plugin.name)
    module, _, attribute = entry_point.value.partition(":")
    plugin_class = getattr(import_module(module), attribute.split(".")[0])
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        plugin_class.print_about("json")
    return dict(json.loads(printed.getvalue()))


def _types(schema: dict[str, Any]) -> list[str]:
    declared = schema.get("type", "string")
    types = [declared] if isinstance(declared, str) else list(declared)
    return [t for t in types if t != "null"] or ["string"]


def setting_kind(schema: dict[str, Any]) -> str:
    """The Meltano setting kind of a JSON schema property.

    A union (a per-flow policy: a string or a mapping) takes its first type: ``meltano config
    set`` then stores what it is given as text, which the target reads as JSON if it is.
    """
    if "enum" in schema:
        return "options"
    first = _types(schema)[0]
    if first == "string" and schema.get("format") == "date-time":
        return "date_iso8601"
    if first == "number":
        # Meltano (4.4) parses a `decimal` setting given by an environment variable into a
        # Decimal and then fails to write the plugin's config ("Object of type Decimal is not
        # JSON serializable"): settings are integers (whole minutes, hours) instead.
        raise ValueError(
            f"{schema.get('title', 'a setting')}: a number setting; declare it an integer "
            "(Meltano cannot pass a decimal setting from an environment variable)"
        )
    kinds = {"integer": "integer", "boolean": "boolean"}
    return kinds.get(first, first if first in ("array", "object") else "string")


def setting(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """One setting in the Hub's (and meltano.yml's) format."""
    entry: dict[str, Any] = {
        "name": name,
        "kind": setting_kind(schema),
        "label": schema.get("title") or name.replace("_", " ").title(),
        "description": " ".join(str(schema.get("description", "")).split()),
    }
    if entry["kind"] == "options":
        entry["options"] = [{"label": str(v), "value": v} for v in schema["enum"]]
    if schema.get("default") is not None:
        entry["value"] = schema["default"]
    if schema.get("secret"):
        entry["sensitive"] = True
    return entry


def plugin_settings(info: dict[str, Any]) -> dict[str, Any]:
    """The capabilities, settings and required settings of a plugin, from its --about."""
    config = info["settings"]
    result: dict[str, Any] = {
        "capabilities": sorted(info["capabilities"]),
        "settings": [setting(name, schema) for name, schema in config["properties"].items()],
    }
    if config.get("required"):
        result["settings_group_validation"] = [list(config["required"])]
    return result


def definition(plugin: Plugin, info: dict[str, Any]) -> dict[str, Any]:
    """The plugin's Hub definition."""
    repo = repository_url()
    return {
        "name": plugin.name,
        "namespace": plugin.name.replace("-", "_"),
        "variant": variant(),
        "label": plugin.label,
        "description": " ".join(str(info["description"]).split()),
        "docs": f"{repo}/tree/main/{plugin.package}#readme",
        "repo": repo,
        "pip_url": pip_url(plugin),
        "executable": plugin.name,
        "keywords": [*KEYWORDS, *plugin.keywords],
        "maintenance_status": "active",
        **plugin_settings(info),
    }


def hub_path(plugin: Plugin) -> Path:
    """``hub/<type>/<name>/<variant>.yml``, as the Hub's repository lays its files out."""
    return HUB / plugin.kind / plugin.name / f"{variant()}.yml"


def dump(data: Any) -> str:
    """YAML as Meltano writes it: block style, keys in the given order."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


_GENERATED_KEYS = ("capabilities", "settings", "settings_group_validation")
_HEADER = "# Generated by scripts/hub_definitions.py (make hub) from the plugin's --about.\n"


def meltano_yml_with(text: str, generated: dict[str, dict[str, Any]]) -> str:
    """meltano.yml with each plugin's generated keys replaced (the rest kept as written)."""
    lines = text.splitlines(keepends=True)
    for name, keys in generated.items():
        start = lines.index(f"  - name: {name}\n")
        end = next(
            (i for i in range(start + 1, len(lines)) if not lines[i].startswith("    ")),
            len(lines),
        )
        block = lines[start:end]
        kept: list[str] = []
        insert_at = None
        skipping = False
        for line in block:
            key = re.match(r"    (\w+):", line)
            if key:
                skipping = key.group(1) in _GENERATED_KEYS
                if skipping and insert_at is None:
                    insert_at = len(kept)
            elif skipping and re.match(r"    (- |  )", line):
                continue
            else:
                skipping = False
            if not skipping:
                kept.append(line)
        if insert_at is None:
            raise SystemExit(f"meltano.yml: {name} has no capabilities or settings to replace")
        new = "".join(
            "    " + line if line.strip() else line for line in dump(keys).splitlines(True)
        )
        kept[insert_at:insert_at] = [new]
        lines[start:end] = kept
    return "".join(lines)


def expected() -> dict[Path, str]:
    """Every generated file's content, by path."""
    files: dict[Path, str] = {}
    generated: dict[str, dict[str, Any]] = {}
    for plugin in PLUGINS:
        info = about(plugin)
        files[hub_path(plugin)] = _HEADER + dump(definition(plugin, info))
        generated[plugin.name] = plugin_settings(info)
    files[MELTANO_YML] = meltano_yml_with(MELTANO_YML.read_text(), generated)
    return files


def main(argv: list[str] | None = None) -> int:
    """Write (``--write``) or check (``--check``) the definitions and meltano.yml."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="write the files")
    mode.add_argument("--check", action="store_true", help="exit 1 if a file differs")
    args = parser.parse_args(argv)
    stale = []
    for path, content in expected().items():
        current = path.read_text() if path.exists() else ""
        if current == content:
            continue
        if args.write:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            print(f"wrote {path.relative_to(ROOT)}")
        else:
            stale.append(path)
            diff = difflib.unified_diff(
                current.splitlines(True), content.splitlines(True), str(path), "--about"
            )
            sys.stdout.writelines(list(diff)[:60])
    if stale:
        names = ", ".join(str(p.relative_to(ROOT)) for p in stale)
        print(f"\n{names}: not what the plugins' --about says; run `make hub`")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Every repository path and document section the docs and the code cite exists.

Scans the repository's ``*.md``, ``*.rst`` and ``*.py`` files (as git lists them, new ones
included) for cited paths (``talk-sync/talk_sync/apply.py``, a relative markdown link, a
markdown file and an anchor of one of its headings) and sections (a markdown file followed
by ``§4.2``), and fails listing each one that does not exist. A path may be relative to the
repository, to the citing file's folder or one above it, or to a plugin's folder (a module
path such as ``custompms/seed.py``). The design brief the project started from is not in
the repository: citing it fails too (cite docs/architecture.md instead). No servers.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[1]
SCANNED = (".md", ".rst", ".py")

#: The brief's file name, spelled so that this file does not cite it.
OUTSIDE_BRIEF = "DESIGN" + ".md"
#: Paths cited that are not in this repository, on purpose, and where they are.
ELSEWHERE = {
    "defs/asana_oas.yaml": "in the Asana/openapi repository, the sandbox's source",
    "../shared/asana/asana_oas.yaml": "the OAS extraction script's default input, a checkout",
}
#: This file names missing paths on purpose (its checker's own test).
THIS_FILE = "tests/test_doc_citations.py"
#: A cited path's last part ends like a file someone would cite.
CITED_SUFFIXES = (".md", ".rst", ".py", ".yml", ".yaml", ".toml", ".json", ".txt", ".cfg")

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")
_MD_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_RST_LINK = re.compile(r"`[^`<]*<([^>`]+)>`__?")
# A path-like token: at least one slash, not part of a longer word or path.
_PATH = re.compile(r"(?<![\w./~-])((?:\.{1,2}/)*[\w.-]+(?:/[\w.-]*)+)(?:#([\w-]+))?")
# A document and the sections cited after it: "docs/architecture.md §4.2", "§7.2-§7.6" (a
# hyphen or an en dash between them).
_SECTIONS = re.compile(
    r"([\w./-]+\.md)[`)\]\s,]{0,4}((?:§\s?\d+(?:\.\d+)*[\s,\u2013-]*(?:and\s)?)+)"
)
_SECTION = re.compile(r"§\s?(\d+(?:\.\d+)*)")
_VERSION = re.compile(r"^\d+(?:\.\d+)*$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_NUMBERED = re.compile(r"^(\d+(?:\.\d+)*)\.?(?:\s|$)")


@cache
def repository_files() -> frozenset[str]:
    """Tracked files, plus new ones git does not ignore."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return frozenset(name for name in listed.split("\0") if name and (ROOT / name).exists())


@cache
def repository_dirs() -> frozenset[str]:
    return frozenset(
        str(parent)
        for name in repository_files()
        for parent in PurePosixPath(name).parents
        if str(parent) != "."
    )


def _exists(path: str) -> bool:
    return path in repository_files() or path in repository_dirs()


def _bases(citing: str) -> Iterator[PurePosixPath]:
    """Where a path cited in ``citing`` may be relative to: its folder and each one above,
    then each top-level folder (a module path inside a plugin, ``custompms/seed.py``)."""
    yield from PurePosixPath(citing).parents
    for folder in sorted(repository_dirs()):
        if "/" not in folder:
            yield PurePosixPath(folder)


def resolve(citing: str, cited: str) -> str | None:
    """The repository path ``cited`` names from the file ``citing``, if it exists."""
    cited = cited.rstrip("/")
    if not cited:
        return None
    bases = [PurePosixPath(citing).parent] if cited.startswith("../") else _bases(citing)
    for base in bases:
        path = os.path.normpath(str(base / cited)).replace(os.sep, "/")
        if path.startswith("../"):
            continue
        if _exists(path):
            return path
    return None


def _looks_cited(citing: str, cited: str, after: str) -> bool:
    """Whether a slashed token is meant as a repository path (not "and/or", "tap/target",
    a ref in a create key, ``talk-sync/asana-task:77``, or a format, ``asana-sandbox/1``)."""
    parts = [part for part in cited.split("/") if part not in ("", ".", "..")]
    if not parts or cited in ELSEWHERE or re.match(r":\w", after):
        return False
    if any(_VERSION.match(part) for part in parts[1:]):
        return False
    if parts[-1].endswith(CITED_SUFFIXES):
        return True
    first = parts[0]
    return first == "docs" or any(
        _exists(str(base / first)) and str(base / first) in repository_dirs()
        for base in _bases(citing)
    )


def slug(heading: str) -> str:
    """GitHub's anchor of a markdown heading."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@cache
def headings(path: str) -> tuple[frozenset[str], frozenset[str]]:
    """The anchors and the section numbers of a markdown file."""
    anchors: dict[str, int] = {}
    found: set[str] = set()
    numbers: set[str] = set()
    fenced = False
    for line in (ROOT / path).read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        match = None if fenced else _HEADING.match(line)
        if match is None:
            continue
        title = match.group(2)
        anchor = slug(title)
        seen = anchors.get(anchor, 0)
        anchors[anchor] = seen + 1
        found.add(anchor if seen == 0 else f"{anchor}-{seen}")
        if number := _NUMBERED.match(title):
            numbers.add(number.group(1))
    return frozenset(found), frozenset(numbers)


def _check_anchor(citing: str, path: str, anchor: str, line: int) -> list[str]:
    if not path.endswith(".md") or not anchor:
        return []
    if anchor not in headings(path)[0]:
        return [f"{citing}:{line}: {path}#{anchor}: no such section"]
    return []


def citation_errors(citing: str, text: str) -> list[str]:
    """What ``text``, the content of the repository file ``citing``, cites that does not exist."""
    errors: list[str] = []
    is_markdown = citing.endswith(".md")
    for number, raw in enumerate(text.splitlines(), start=1):
        if OUTSIDE_BRIEF in raw:
            errors.append(
                f"{citing}:{number}: cites {OUTSIDE_BRIEF}, which is not in the repository; "
                "cite docs/architecture.md"
            )
        line = _URL.sub(" ", raw)
        links = _MD_LINK.findall(line) if is_markdown else []
        links += _RST_LINK.findall(line) if citing.endswith(".rst") else []
        for target in links:
            if target.startswith(("mailto:", "#")) or "://" in target:
                if target.startswith("#") and is_markdown:
                    errors += _check_anchor(citing, citing, target[1:], number)
                continue
            cited, _, anchor = target.partition("#")
            path = resolve(citing, cited)
            if path is None:
                errors.append(f"{citing}:{number}: {cited}: no such file or folder")
            else:
                errors += _check_anchor(citing, path, anchor, number)
        line_without_links = _MD_LINK.sub(" ", line) if is_markdown else line
        for match in _PATH.finditer(line_without_links):
            cited, anchor = match.group(1).rstrip("."), match.group(2)
            if not _looks_cited(citing, cited, line_without_links[match.end() :]):
                continue
            path = resolve(citing, cited)
            if path is None:
                errors.append(f"{citing}:{number}: {cited}: no such file or folder")
            elif anchor:
                errors += _check_anchor(citing, path, anchor, number)
        for match in _SECTIONS.finditer(line):
            path = resolve(citing, match.group(1))
            if path is None:
                continue  # reported above as a path
            numbers = headings(path)[1]
            for section in _SECTION.findall(match.group(2)):
                if section not in numbers:
                    errors.append(f"{citing}:{number}: {path} §{section}: no such section")
        if is_markdown and headings(citing)[1]:
            # A numbered document's own "§N" citations point into itself.
            cited_elsewhere = {m.start(2) for m in _SECTIONS.finditer(line)}
            for match in _SECTION.finditer(line):
                inside = any(start <= match.start() for start in cited_elsewhere)
                if not inside and match.group(1) not in headings(citing)[1]:
                    errors.append(f"{citing}:{number}: §{match.group(1)}: no such section")
    return errors


def scanned_files() -> list[str]:
    return sorted(
        name for name in repository_files() if name.endswith(SCANNED) and name != THIS_FILE
    )


def test_cited_paths_and_sections_exist() -> None:
    errors = [
        error
        for name in scanned_files()
        for error in citation_errors(name, (ROOT / name).read_text(encoding="utf-8"))
    ]
    assert not errors, "cited, but not in the repository:\n" + "\n".join(errors)


def test_the_checker_finds_what_does_not_exist() -> None:
    """The checker itself: each kind of citation, existing and missing."""
    text = "\n".join(
        [
            "see `talk-sync/talk_sync/plan.py` and [the root](../README.md#layout)",
            "see `talk-sync/talk_sync/no_such_module.py`",
            "[gone](../no-such-folder/README.md)",
            "see talk-sync/README.md#no-such-anchor",
            "see README.md §99",
            "from the " + OUTSIDE_BRIEF + " §4",
            "and/or, tap/target/sinks, https://example.com/a/b.py stay quiet",
        ]
    )
    errors = citation_errors("talk-sync/README.md", text)
    assert [error.split(":")[1] for error in errors] == ["2", "3", "4", "5", "6"], errors


def test_the_module_map_names_every_module_of_the_shared_core() -> None:
    """docs/architecture.md §8 lists talk_sync's modules: a new one is placed in it."""
    text = (ROOT / "docs/architecture.md").read_text(encoding="utf-8")
    section = text[text.index("## 8. Module map") :]
    package = ROOT / "talk-sync/talk_sync"
    modules = sorted(
        f"{path.name}/" if path.is_dir() else path.name
        for path in package.iterdir()
        if (path.suffix == ".py" and path.name != "__init__.py")
        or (path.is_dir() and (path / "__init__.py").exists())
    )
    missing = [name for name in modules if f"`{name}`" not in section]
    assert not missing, f"docs/architecture.md §8 does not place: {', '.join(missing)}"

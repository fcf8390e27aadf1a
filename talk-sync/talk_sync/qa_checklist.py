"""The QA checklist (docs/qa-checklist.rst), generated from the flow descriptions.

The product began as a QA checklist of five data flows, each with an empty property table.
This renders it from :mod:`talk_sync.flows`, so the document cannot drift from the code:
``python -m talk_sync.qa_checklist --write`` (or ``make qa-checklist``) rewrites it, and a
test fails when the committed file differs from what the descriptions generate.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from talk_sync.flows import NOT_SYNCED_AT_ALL, Access, Flow, Row, get_flow
from talk_sync.normalize import FieldType
from talk_sync.refs import Side

#: Where the checklist lives, from the repository root.
PATH = Path("docs") / "qa-checklist.rst"
#: The flows in the order of the original checklist.
ORDER = (4, 2, 1, 3, 5)
SENTENCE = (
    "Once a link is established, it will keep in sync between the two systems, regardless "
    "of where it is edited."
)
_TYPES: dict[FieldType, str] = {
    FieldType.TEXT: "string",
    FieldType.OPTIONAL_TEXT: "string or null",
    FieldType.DATE: "date (``YYYY-MM-DD``) or null",
    FieldType.DATETIME: "timestamp (UTC) or null",
    FieldType.EMAIL: "string (email) or null",
    FieldType.BOOLEAN: "boolean",
    FieldType.DOMAIN_SET: "array of domain names",
    FieldType.STRING_SET: "array of strings",
}
_ARROWS = {(True, True): "⇄", (True, False): "→", (False, True): "←"}


def title(flow: Flow) -> str:
    """E.g. ``Asana Tasks → Custompms Project (board tasks)``."""
    asana = f"{flow.asana_type.capitalize()}s"
    extra = " (board tasks)" if not flow.creates(Side.ASANA) and flow.asana_type == "task" else ""
    return f"Asana {asana} → Custompms {flow.custompms_type.capitalize()}{extra}"


def render() -> str:
    """The whole checklist, as reStructuredText."""
    lines = [
        "QA checklist",
        "============",
        "",
        ".. Generated from talk-sync/talk_sync/flows.py by ``make qa-checklist``",
        "   (``python -m talk_sync.qa_checklist --write``): edit the flows, not this file.",
        "",
        "The five data flows between Asana and Custompms, with every synced property. The",
        "direction column reads: ⇄ both ways, → Asana to Custompms only, ← Custompms to",
        "Asana only. Users are matched by email; references (ids) resolve through the links.",
        "",
    ]
    for number in ORDER:
        lines += _section(get_flow(number))
    lines += ["Not synced at all", "-----------------", ""]
    lines += [f"- {item}." for item in NOT_SYNCED_AT_ALL]
    lines.append("")
    return "\n".join(lines)


def _section(flow: Flow) -> list[str]:
    heading = title(flow)
    lines = [heading, "-" * len(heading), ""]
    lines += [f"Flow {flow.number}, ``{flow.name}``. {SENTENCE}", ""]
    lines += [_creating(flow), ""]
    lines += [
        ".. list-table::",
        "   :header-rows: 1",
        "",
        "   * - Asana property",
        "     - ⇄",
        "     - Custompms property",
        "     - Custompms data type",
        "     - Notes",
    ]
    for row in flow.rows:
        cells = [
            row.asana_label or f"``{row.asana}``",
            _direction(flow, row),
            f"``{row.custompms}``" if row.custompms else "(none)",
            _data_type(flow, row),
            _notes(flow, row),
        ]
        lines.append(f"   * - {cells[0]}")
        lines += [f"     - {cell}" if cell else "     -" for cell in cells[1:]]
    lines += ["", "Deliberately not synced:", ""]
    lines += [f"- {item}." for item in flow.not_synced]
    lines.append("")
    return lines


def _creating(flow: Flow) -> str:
    made = []
    if flow.creates(Side.CUSTOMPMS):
        made.append(f"a new Asana {flow.asana_type} becomes a Custompms {flow.custompms_type}")
    if flow.creates(Side.ASANA):
        made.append(f"a new Custompms {flow.custompms_type} becomes an Asana {flow.asana_type}")
    if flow.creates_note:
        made.append(flow.creates_note)
    text = "; ".join(made)
    return f"New records: {text}."


def _direction(flow: Flow, row: Row) -> str:
    to_custompms = row.custompms is not None and flow.field(Side.CUSTOMPMS, row.custompms).received
    to_asana = row.asana is not None and flow.field(Side.ASANA, row.asana).access in (
        Access.WRITABLE,
        Access.CREATE_ONLY,
    )
    return _ARROWS[(to_custompms, to_asana)]


def _data_type(flow: Flow, row: Row) -> str:
    if row.custompms_type:
        return row.custompms_type
    if row.custompms is None:
        return ""
    field = flow.field(Side.CUSTOMPMS, row.custompms)
    if field.type is FieldType.ID:
        return f"integer: a {field.references}'s ``id``, or null"
    # str(): mypy reads .value of a narrowed enum as Any.
    return _TYPES.get(field.type, str(field.type.value))


def _notes(flow: Flow, row: Row) -> str:
    notes = [row.note] if row.note else []
    if row.asana is not None:
        field = flow.field(Side.ASANA, row.asana)
        if field.access is Access.CREATE_ONLY:
            notes.append(f"set on create only: {field.why}; a change is reported, not written")
        elif field.access is Access.REFUSED:
            notes.append(f"{field.why}: reported, not written")
        elif field.access is Access.READ_ONLY and field.why:
            notes.append(f"{field.why}: not written to Asana")
    return "; ".join(notes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {PATH} (else print it)")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the repository root")
    args = parser.parse_args(argv)
    if args.write:
        target = args.root / PATH
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render(), encoding="utf-8")
    else:
        sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

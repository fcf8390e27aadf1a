"""Rich text as Asana keeps it: ``html_notes`` (``html_description``) and its plain view.

Asana keeps a task's or project's notes (a team's description) twice: as rich text and as
plain text, two views of one text, so writing either sets both. The rules followed here are
Asana's rich-text guide (developers.asana.com/docs/rich-text) and the description's
``html_notes`` examples:

- Rich text is valid XML with a ``<body>`` root, made of Asana's tags (:data:`TAGS`);
  anything else is a 400 that changes nothing. Headings hold no line break.
- An @-mention is a link naming an Asana object: ``<a data-asana-gid="..."/>`` is written,
  and Asana fills it in (``href``, ``data-asana-type``, ``data-asana-accessible``,
  ``data-asana-dynamic``, and the name as the link's text, ``@Name`` for a user).
- Plain text is the text with the tags stripped and the entities decoded; a mention reads
  as its link; lists, list items, headings, quotes, code blocks and rules each start on a
  line of their own. Plain text written as notes becomes ``<body>`` + the text with ``&``,
  ``<`` and ``>`` escaped (newlines stay newlines: Asana has no ``<p>`` or ``<br>``).

The messages are ours (the live texts are not recorded); the status and body are Asana's.
"""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass

from asana_sandbox.errors import bad_request

#: The tags Asana's rich text is made of in notes and descriptions (images and tables need
#: attachments and project briefs, which the sandbox does not model).
TAGS = frozenset(
    {"body", "strong", "em", "u", "s", "code", "ol", "ul", "li", "a", "blockquote", "pre"}
    | {"h1", "h2", "hr"}
)
#: Tags that start on a line of their own in the plain view.
BLOCKS = frozenset({"ul", "ol", "li", "blockquote", "pre", "h1", "h2", "hr"})
#: Tags that hold no line break.
HEADINGS = frozenset({"h1", "h2"})
#: Tags written empty (``<hr/>``).
VOID = frozenset({"hr"})
GID = "data-asana-gid"


@dataclass(frozen=True)
class Mentioned:
    """What a mention links to: the object's type, its name and its URL."""

    type: str
    name: str
    url: str
    accessible: bool


#: Finds the object a mention names by gid (``None``: no such object).
Resolver = Callable[[str], "Mentioned | None"]


def html_of(text: str) -> str:
    """The rich text of plain text: escaped, in a ``<body>``."""
    return f"<body>{html.escape(text, quote=False)}</body>"


def normalize(rich: str, field: str, resolve: Resolver) -> tuple[str, str]:
    """Rich text as Asana keeps it (mentions filled in) and its plain view.

    Raises Asana's 400 for what it refuses.
    """
    root = _parse(rich, field)
    for element in root.iter():
        if element.tag not in TAGS:
            raise bad_request(f"{field}: <{element.tag}> is not a tag Asana's rich text has")
        if element.tag in HEADINGS and "\n" in "".join(element.itertext()):
            raise bad_request(f"{field}: <{element.tag}> cannot hold a line break")
        if element.tag == "a" and element.get(GID):
            _fill_mention(element, field, resolve)
    return _serialize(root), plain_text(root)


def plain_text(root: ET.Element) -> str:
    """The plain view of parsed rich text (see the module doc)."""
    parts: list[str] = []
    line_break = False

    def emit(text: str | None) -> None:
        nonlocal line_break
        if not text:
            return
        if line_break and parts and not parts[-1].endswith("\n") and not text.startswith("\n"):
            parts.append("\n")
        line_break = False
        parts.append(text)

    def walk(element: ET.Element) -> None:
        nonlocal line_break
        if element.tag in BLOCKS:
            line_break = True
        if element.tag == "a" and element.get(GID):
            emit(element.get("href", ""))
        else:
            emit(element.text)
            for child in element:
                walk(child)
                emit(child.tail)
        if element.tag in BLOCKS:
            line_break = True

    walk(root)
    return "".join(parts)


def _parse(rich: str, field: str) -> ET.Element:
    stripped = rich.strip()
    try:
        root = ET.fromstring(stripped)  # noqa: S314 (the sandbox's own input; expat limits expansion)
    except ET.ParseError as error:
        raise bad_request(f"{field}: XML is invalid: {error}") from None
    if root.tag != "body" or not stripped.startswith("<body"):
        raise bad_request(f"{field}: rich text must be one <body> element")
    return root


def _fill_mention(element: ET.Element, field: str, resolve: Resolver) -> None:
    gid = element.get(GID, "")
    target = resolve(gid)
    if target is None:
        raise bad_request(f"{field}: Unknown object: {gid}")
    for child in list(element):
        element.remove(child)
    element.attrib.clear()
    element.attrib.update(
        {
            "href": target.url,
            GID: gid,
            "data-asana-accessible": "true" if target.accessible else "false",
            "data-asana-type": target.type,
            "data-asana-dynamic": "true",
        }
    )
    element.text = f"@{target.name}" if target.type == "user" else target.name


def _serialize(element: ET.Element) -> str:
    attributes = "".join(
        f' {name}="{html.escape(value, quote=True)}"' for name, value in element.attrib.items()
    )
    inner = html.escape(element.text or "", quote=False) + "".join(
        _serialize(child) + html.escape(child.tail or "", quote=False) for child in element
    )
    if not inner and element.tag in VOID:
        return f"<{element.tag}{attributes}/>"
    return f"<{element.tag}{attributes}>{inner}</{element.tag}>"

"""Asana rich text: carry a plain-text edit into ``html_notes`` without losing its formatting.

Asana keeps a task's or project's notes twice: ``html_notes``, rich text (XML with a
``<body>`` root: bold, italics, lists, links, @-mentions...), and ``notes``, its plain view.
Custompms holds plain text only, so the sync reads ``notes``. (A team's ``description``
and ``html_description`` alike.) Writing a plain description
back as ``notes`` would replace the rich text with flat text: every bold word, link and
mention silently gone. :func:`carry_edit` instead carries the plain-text edit (old ``notes``
-> new description) into the rich text:

- the two plain texts are compared character by character (:class:`difflib.SequenceMatcher`)
  and each insertion or deletion is applied to the text inside the rich text, so untouched
  text keeps its tags byte for byte, and text typed inside a bold word is bold;
- a mention the edit touches becomes the plain text it read as (the user edited it as text);
- text is escaped for XML (``&``, ``<``, ``>``); newlines stay newlines (Asana has no ``<p>``
  or ``<br>``);
- an edit that would remove the line break between two list items, headings or other
  blocks cannot be carried (the structure, not the text, holds it): :class:`RichTextError`.

It relies on reading ``html_notes`` the way Asana derives ``notes``: text with the tags
stripped and the entities decoded; a mention as its link (or its name: whichever matches
what Asana answered); each list, list item, heading, quote, code block and rule on a line of
its own. Asana does not document that reading, so :func:`carry_edit` checks it against the
``notes`` Asana answered, and the result against the edited text: when either differs, it
raises :class:`RichTextError` rather than write something Asana would read differently.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from enum import Enum

#: A tag (attribute values may hold ``>``), an entity, or one character.
_TOKEN = re.compile(
    r"<(?:[^>\"']|\"[^\"]*\"|'[^']*')*>|&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);|.",
    re.DOTALL,
)
_TAG_NAME = re.compile(r"<(/?)([^\s/>]+)")
_ATTRIBUTE = re.compile(r"""([^\s=/>]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
#: Tags that start on a line of their own in Asana's plain view.
BLOCKS = frozenset({"ul", "ol", "li", "blockquote", "pre", "h1", "h2", "hr"})
#: Tags Asana allows no line break in.
HEADINGS = frozenset({"h1", "h2"})
#: Formatting that an edit may leave empty: dropped then (``<strong></strong>``).
_INLINE = ("strong", "em", "u", "s", "code", "a")
_EMPTIED = re.compile(r"<(" + "|".join(_INLINE) + r")(?:\s(?:[^>\"']|\"[^\"]*\"|'[^']*')*)?></\1>")
#: Characters XML 1.0 cannot carry, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
#: Longest changed stretch compared character by character (longer: replaced as a whole).
_MAX_DIFF = 20_000
MENTION = "data-asana-gid"
EMPTY = "<body></body>"


class RichTextError(ValueError):
    """A plain-text edit that cannot be carried into the rich text; the message says why."""


class _Kind(Enum):
    TEXT = "text"  #: one character of text, editable
    MARKUP = "markup"  #: a tag, read as nothing
    FIXED = "fixed"  #: read as text but not editable as such: a mention, a block's line break


@dataclass(frozen=True)
class _Piece:
    """A stretch of ``html_notes`` (``markup``) and what it reads as in ``notes`` (``plain``)."""

    kind: _Kind
    markup: str
    plain: str = ""
    mention: bool = False


def is_rich(rich: str | None) -> bool:
    """Whether ``html_notes`` holds more than plain text: any tag besides its ``<body>``."""
    if not rich:
        return False
    tokens = _TOKEN.findall(rich.strip())
    return any(token.startswith("<") for token in tokens[1:-1])


def plain_text(rich: str, *, mention_as: str = "href") -> str:
    """How Asana reads ``html_notes`` as ``notes`` (see the module doc).

    ``mention_as``: a mention reads as its link (``href``) or as its name (``text``).
    """
    return "".join(piece.plain for piece in _read(rich, mention_as))


def carry_edit(rich: str, notes: str, edited: str) -> str:
    """``rich`` (Asana's ``html_notes``, read as ``notes``) with the edit to ``edited``.

    Raises :class:`RichTextError` when the edit cannot be carried without changing what the
    rich text's structure holds, or when Asana's ``notes`` do not read as expected.
    """
    if not edited:
        return EMPTY  # clearing the description: nothing is left to format
    if _NOT_XML.search(edited):
        raise RichTextError("the description holds control characters XML cannot carry")
    mention_as, pieces = _reading(rich, notes)
    ops = _opcodes(notes, edited)
    pieces = _demote_touched_mentions(pieces, ops)
    result = _EMPTIED.sub("", "".join(_edited(pieces, ops, edited)))
    while (shorter := _EMPTIED.sub("", result)) != result:
        result = shorter
    if plain_text(result, mention_as=mention_as) != edited:
        raise RichTextError(
            "the edit adds or removes a line break that Asana keeps as a list item, heading "
            "or other block, not as text"
        )
    return result


def _reading(rich: str, notes: str) -> tuple[str, list[_Piece]]:
    """The pieces of ``rich``, read the way that gives Asana's ``notes``."""
    for mention_as in ("href", "text"):
        pieces = _read(rich, mention_as)
        if "".join(piece.plain for piece in pieces) == notes:
            return mention_as, pieces
    raise RichTextError(
        "Asana's plain text does not read as its rich text is expected to (rich text this "
        "sync does not know how Asana renders as plain text)"
    )


def _read(rich: str, mention_as: str) -> list[_Piece]:
    """``rich`` as pieces: its text, its tags, its mentions and the line breaks of blocks."""
    tokens = _TOKEN.findall(rich.strip())
    if tokens == ["<body/>"]:
        tokens = ["<body>", "</body>"]
    if len(tokens) < 2 or _tag(tokens[0])[:2] != ("", "body") or tokens[-1] != "</body>":
        raise RichTextError("the rich text is not one <body> element")
    pieces: list[_Piece] = []
    line_break = False  # a block began or ended: the next text starts a new line
    break_at = 0  # where that line break goes: right after the block's tag
    last = ""  # the last character read
    headings = 0
    tokens_left = iter(tokens)

    def read_as(piece: _Piece) -> None:
        nonlocal line_break, last
        if piece.plain:
            if line_break and last not in ("", "\n") and not piece.plain.startswith("\n"):
                pieces.insert(break_at, _Piece(_Kind.FIXED, "", "\n"))
            line_break = False
            last = piece.plain[-1]
        pieces.append(piece)

    for token in tokens_left:
        if not token.startswith("<"):
            char = html.unescape(token) if token.startswith("&") else token
            if char == "\n" and headings:
                raise RichTextError("a heading cannot hold a line break")
            read_as(_Piece(_Kind.TEXT, token, char))
            continue
        closing, name, attributes = _tag(token)
        if name == "a" and not closing and MENTION in attributes:
            read_as(_mention(token, attributes, tokens_left, mention_as))
            continue
        if name in HEADINGS and not token.endswith("/>"):
            headings += -1 if closing else 1
        read_as(_Piece(_Kind.MARKUP, token))
        if name in BLOCKS:
            line_break, break_at = True, len(pieces)
    return pieces


def _tag(token: str) -> tuple[str, str, dict[str, str]]:
    """A tag's ``/`` (closing) or ``""``, its name and its attributes (decoded)."""
    match = _TAG_NAME.match(token)
    if match is None:
        raise RichTextError(f"the rich text holds markup that is not a tag: {token[:40]}")
    attributes = {
        name: html.unescape(double if double is not None else single)
        for name, double, single in _ATTRIBUTE.findall(token[match.end() :])
    }
    return match.group(1), match.group(2), attributes


def _mention(
    token: str, attributes: dict[str, str], tokens_left: Iterator[str], mention_as: str
) -> _Piece:
    """A mention, from its ``<a>`` to its ``</a>``: one piece that reads as its link or name."""
    markup, text = [token], []
    if not token.endswith("/>"):
        for inner in tokens_left:
            markup.append(inner)
            if inner == "</a>":
                break
            if not inner.startswith("<"):
                text.append(html.unescape(inner))
    plain = attributes.get("href", "") if mention_as == "href" else "".join(text)
    return _Piece(_Kind.FIXED, "".join(markup), plain, mention=True)


def _opcodes(old: str, new: str) -> list[tuple[str, int, int, int, int]]:
    """The edit from ``old`` to ``new``: SequenceMatcher's opcodes, common ends trimmed first
    (fast, and it keeps an edit where it was made)."""
    start = 0
    while start < min(len(old), len(new)) and old[start] == new[start]:
        start += 1
    end = 0
    while end < min(len(old), len(new)) - start and old[-1 - end] == new[-1 - end]:
        end += 1
    old_middle, new_middle = old[start : len(old) - end], new[start : len(new) - end]
    middle: Sequence[tuple[str, int, int, int, int]]
    if len(old_middle) > _MAX_DIFF or len(new_middle) > _MAX_DIFF:
        middle = [("replace", 0, len(old_middle), 0, len(new_middle))]
    else:
        middle = SequenceMatcher(None, old_middle, new_middle, autojunk=False).get_opcodes()
    return [
        (tag, i1 + start, i2 + start, j1 + start, j2 + start)
        for tag, i1, i2, j1, j2 in middle
        if tag != "equal"
    ]


def _spans(pieces: Sequence[_Piece]) -> list[tuple[int, int]]:
    """Each piece's ``[start, end)`` in the plain text."""
    spans, offset = [], 0
    for piece in pieces:
        spans.append((offset, offset + len(piece.plain)))
        offset += len(piece.plain)
    return spans


def _touches(span: tuple[int, int], i1: int, i2: int) -> bool:
    """Whether an edit of ``[i1, i2)`` (an insertion when empty) reaches into ``span``."""
    start, end = span
    if i1 == i2:
        return start < i1 < end
    return start < i2 and i1 < end


def _demote_touched_mentions(
    pieces: list[_Piece], ops: Sequence[tuple[str, int, int, int, int]]
) -> list[_Piece]:
    """A mention the edit reaches into becomes the text it read as; a block's line break
    cannot be edited (:class:`RichTextError`)."""
    result: list[_Piece] = []
    for piece, span in zip(pieces, _spans(pieces), strict=True):
        touched = piece.kind is _Kind.FIXED and any(_touches(span, i1, i2) for _, i1, i2, *_ in ops)
        if touched and not piece.mention:
            raise RichTextError(
                "the edit joins or splits lines that Asana keeps as list items, headings or "
                "other blocks"
            )
        if touched:
            result.extend(_Piece(_Kind.TEXT, _escape(char), char) for char in piece.plain)
        else:
            result.append(piece)
    return result


def _edited(
    pieces: list[_Piece], ops: Sequence[tuple[str, int, int, int, int]], edited: str
) -> Iterator[str]:
    """The markup of ``pieces`` with the edit applied (see the module doc)."""
    spans = _spans(pieces)
    holding = {start: index for index, (start, end) in enumerate(spans) if end > start}
    deleted: set[int] = set()
    before: dict[int, str] = {}  # text to write before a piece (a replacement, in place)
    after: dict[int, str] = {}  # text to write after a piece (an insertion)
    for tag, i1, i2, j1, j2 in ops:
        deleted.update(holding[offset] for offset in range(i1, i2) if offset in holding)
        text = _escape(edited[j1:j2])
        if not text:
            continue
        if tag == "replace":
            index = holding[i1]
            before[index] = before.get(index, "") + text
        else:  # after the piece holding the character before, or after <body>
            index = _holder(spans, i1 - 1) if i1 else 0
            if text.startswith("\n"):
                index = _block_end(pieces, index)
            after[index] = after.get(index, "") + text
    for index, piece in enumerate(pieces):
        yield before.get(index, "")
        if index not in deleted:
            yield piece.markup
        yield after.get(index, "")


def _block_end(pieces: Sequence[_Piece], index: int) -> int:
    """Where a new line typed at the end of a heading, list or quote goes: after the tags
    closing it (a heading holds no line break; a line after a list is not in its last item).
    ``index`` itself when no such block ends right after it."""
    for following in range(index + 1, len(pieces)):
        piece = pieces[following]
        if piece.kind is not _Kind.MARKUP or not piece.markup.startswith("</"):
            break
        name = _tag(piece.markup)[1]
        if name in BLOCKS and name != "li":
            return following
    return index


def _holder(spans: Sequence[tuple[int, int]], offset: int) -> int:
    """The index of the piece holding plain character ``offset``."""
    return next(index for index, (start, end) in enumerate(spans) if start <= offset < end)


def _escape(text: str) -> str:
    """Text as XML text: ``&``, ``<``, ``>`` escaped; a carriage return kept as one."""
    return html.escape(text, quote=False).replace("\r", "&#13;")

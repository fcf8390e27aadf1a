"""Carrying a plain-text edit into Asana's rich text (talk_sync.rich_text)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st
from talk_sync.rich_text import EMPTY, RichTextError, carry_edit, is_rich, plain_text

PROFILE = "https://app.asana.com/0/profile/42"
MENTION = (
    f'<a href="{PROFILE}" data-asana-gid="42" data-asana-accessible="true" '
    'data-asana-type="user" data-asana-dynamic="true">@Ada Lovelace</a>'
)
RICH = (
    "<body>Kick-off with <strong>the client</strong>: read "
    f'<a href="https://example.com/brief?v=2&amp;lang=en">the brief</a>, ask {MENTION}.</body>'
)
NOTES = f"Kick-off with the client: read the brief, ask {PROFILE}."
LIST = "<body>Goals:<ul><li>faster pages</li><li><em>new</em> design</li></ul>Done</body>"
LIST_NOTES = "Goals:\nfaster pages\nnew design\nDone"


def test_rich_text_reads_as_asanas_plain_view() -> None:
    assert plain_text(RICH) == NOTES
    assert plain_text(RICH, mention_as="text") == NOTES.replace(PROFILE, "@Ada Lovelace")
    assert plain_text(LIST) == LIST_NOTES
    assert plain_text("<body>a &lt;b&gt; &amp; &#233;\nc</body>") == "a <b> & é\nc"
    assert plain_text("<body><h1>Title</h1>\ntext<hr/>end</body>") == "Title\ntext\nend"


def test_only_tags_besides_the_body_make_notes_rich() -> None:
    assert not is_rich(None)
    assert not is_rich("<body/>")
    assert not is_rich("<body>a &amp; b\nc</body>")
    assert is_rich(RICH)
    assert is_rich(LIST)


def test_an_edit_keeps_formatting_links_and_mentions() -> None:
    edited = NOTES.replace("the client", "the new client") + "\nBring the <contract> & NDA."
    assert carry_edit(RICH, NOTES, edited) == (
        RICH.replace("<strong>the client</strong>", "<strong>the new client</strong>").replace(
            ".</body>", ".\nBring the &lt;contract&gt; &amp; NDA.</body>"
        )
    )
    # Text replaced inside a link stays linked; text outside stays outside.
    assert carry_edit(RICH, NOTES, NOTES.replace("the brief", "the old brief")) == RICH.replace(
        ">the brief</a>", ">the old brief</a>"
    )
    assert carry_edit(RICH, NOTES, "Hello. " + NOTES) == RICH.replace("<body>", "<body>Hello. ")


def test_a_mention_the_edit_reaches_into_becomes_its_text() -> None:
    other = PROFILE.replace("42", "43")
    assert carry_edit(RICH, NOTES, NOTES.replace(PROFILE, other)) == RICH.replace(MENTION, other)
    # Text typed right after it leaves it whole.
    edited = NOTES.replace(PROFILE, PROFILE + " too")
    assert carry_edit(RICH, NOTES, edited) == RICH.replace(MENTION, MENTION + " too")
    # Asana reading mentions as names: the same, with the name.
    by_name = NOTES.replace(PROFILE, "@Ada Lovelace")
    assert carry_edit(RICH, by_name, by_name.replace("Ada", "Ada K.")) == RICH.replace(
        MENTION, "@Ada K. Lovelace"
    )


def test_text_replaced_in_place_keeps_its_formatting_and_emptied_formatting_goes() -> None:
    assert carry_edit(RICH, NOTES, NOTES.replace("the client", "you")) == RICH.replace(
        "the client", "you"
    )
    assert carry_edit(RICH, NOTES, NOTES.replace(" the client", "")) == RICH.replace(
        " <strong>the client</strong>", ""
    )


def test_edits_within_and_after_list_items_keep_the_list() -> None:
    assert carry_edit(LIST, LIST_NOTES, LIST_NOTES.replace("new design", "NEW design")) == (
        LIST.replace("<em>new</em>", "<em>NEW</em>")
    )
    inserted = LIST_NOTES.replace("new design", "and more\nnew design")
    assert carry_edit(LIST, LIST_NOTES, inserted) == LIST.replace(
        "<li><em>new", "<li>and more\n<em>new"
    )
    # A new line typed at the end of a list goes after it, not into its last item.
    ending = LIST.replace("Done", "")
    assert carry_edit(ending, LIST_NOTES[:-5], LIST_NOTES[:-5] + "\nDeadline") == (
        ending.replace("</ul>", "</ul>\nDeadline")
    )
    heading = "<body><h1>Title</h1>text</body>"
    assert carry_edit(heading, "Title\ntext", "Title\nsub\ntext") == (
        "<body><h1>Title</h1>sub\ntext</body>"
    )


@pytest.mark.parametrize(
    "edited",
    [
        "Goals:\nfaster pages and new design\nDone",  # joins two list items
        "Goals:\nfaster pages\nDone",  # removes a list item's line
        "Goals: faster pages\nnew design\nDone",  # joins the text before the list to it
    ],
)
def test_an_edit_of_a_blocks_line_break_is_refused(edited: str) -> None:
    with pytest.raises(RichTextError, match="list items, headings or other blocks"):
        carry_edit(LIST, LIST_NOTES, edited)


def test_notes_that_do_not_read_as_the_html_are_refused() -> None:
    with pytest.raises(RichTextError, match="does not read as its rich text"):
        carry_edit(RICH, "something Asana renders otherwise", "edited")
    with pytest.raises(RichTextError, match="one <body> element"):
        carry_edit("<div>x</div>", "x", "y")


def test_clearing_clears_and_control_characters_are_refused() -> None:
    assert carry_edit(RICH, NOTES, "") == EMPTY
    with pytest.raises(RichTextError, match="control characters"):
        carry_edit(RICH, NOTES, NOTES + "\x07")


@given(st.text(alphabet=st.sampled_from("ab <&>\n\r\"'é"), max_size=60))
def test_any_edit_of_inline_rich_text_is_carried_as_valid_xml(edited: str) -> None:
    """Without blocks nothing can refuse an edit: the result is valid XML rooted at <body>
    that reads as the edited text."""
    result = carry_edit(RICH, NOTES, edited)
    root = ET.fromstring(result)  # noqa: S314 (our own output)
    assert root.tag == "body"
    assert plain_text(result) == edited

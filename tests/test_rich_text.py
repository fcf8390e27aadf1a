"""Asana rich text through `meltano run sync` (both directions; #12 point 14).

An Asana task or project whose notes carry formatting, links or @-mentions (``html_notes``)
reaches Custompms as plain text (``notes``). A Custompms description edit written back
keeps the formatting: the edit is carried into ``html_notes``. An edit that cannot be
carried without breaking the formatting (it joins two list items) is not written; it is
reported per record, naming the field, and each side keeps its value. The round trip with
no edit writes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from local_stack import local_stack
from local_stack.systems import Systems

pytestmark = pytest.mark.e2e

WEBSITE = "1200000000000064"  # "Website relaunch", an Asana project of the demo seed (flow 3)
WIREFRAMES = "1200000000000070"  # a task of it (flow 5)
ALEX = "1200000000000003"  # Alex Morgan, the token's user
PROFILE = f"https://app.asana.com/0/profile/{ALEX}"

TASK_HTML = (
    "<body>Kick-off with <strong>the client</strong>: read "
    '<a href="https://example.com/brief?v=2&amp;lang=en">the brief</a>, then ask '
    f'<a data-asana-gid="{ALEX}"/> for access.</body>'
)
TASK_NOTES = f"Kick-off with the client: read the brief, then ask {PROFILE} for access."
PROJECT_HTML = "<body>Goals:<ul><li>faster pages</li><li><em>new</em> design</li></ul></body>"
PROJECT_NOTES = "Goals:\nfaster pages\nnew design"


def _notes(s: Systems, resource: str, gid: str) -> dict[str, Any]:
    params = {"opt_fields": "name,notes,html_notes"}
    return s.stack.asana.act("get", f"/{resource}/{gid}", params)["data"]


def test_a_description_edit_keeps_asana_rich_text_or_is_held_back_and_reported(
    tmp_path: Path, meltano_installed: None
) -> None:
    with local_stack(tmp_path, discover_once=True) as stack:
        s = Systems(stack)
        s.asana_edit("tasks", WIREFRAMES, html_notes=TASK_HTML)
        s.asana_edit("projects", WEBSITE, html_notes=PROJECT_HTML)
        task_before, project_before = _notes(s, "tasks", WIREFRAMES), _notes(s, "projects", WEBSITE)
        assert (task_before["notes"], project_before["notes"]) == (TASK_NOTES, PROJECT_NOTES)

        s.sync()
        task = s.pms_of("tasks", f"asana-task:{WIREFRAMES}")
        project = s.pms_of("projects", f"asana-project:{WEBSITE}")
        assert (task["description"], project["description"]) == (TASK_NOTES, PROJECT_NOTES)
        s.assert_idle_sync_writes_nothing()  # rich text with no edit on either side

        edited = (
            TASK_NOTES.replace("the client", "the new client") + "\nBring the <contract> & NDA."
        )
        s.pms_edit("tasks", task["id"], description=edited)
        joined = "Goals:\nfaster pages and new design"  # joins two list items
        s.pms_edit("projects", project["id"], description=joined)
        reports = s.sync()

        # The task's edit is in html_notes, formatting, link and mention kept; plain text
        # escaped; Asana's notes now read as the description.
        task_after = _notes(s, "tasks", WIREFRAMES)
        assert task_after["html_notes"] == (
            task_before["html_notes"]
            .replace("<strong>the client</strong>", "<strong>the new client</strong>")
            .replace(
                "for access.</body>", "for access.\nBring the &lt;contract&gt; &amp; NDA.</body>"
            )
        )
        assert task_after["notes"] == edited
        assert s.pms("tasks", task["id"])["description"] == edited
        # The project's edit is held back, reported naming the field; each side keeps its own.
        assert _notes(s, "projects", WEBSITE) == project_before
        assert s.pms("projects", project["id"])["description"] == joined
        skipped = [
            change
            for change in reports["custompms -> asana"]["changes"]
            if change["outcome"] == "skipped"
            and change["record"] == f"custompms-project:{project['id']}"
        ]
        assert [change["fields"] for change in skipped] == [["notes"]], skipped
        assert "html_notes" in skipped[0]["detail"], skipped
        assert reports["custompms -> asana"]["rejects"] == []
        s.assert_idle_sync_writes_nothing()

        # An Asana edit of another field does not bring the held-back notes back.
        s.asana_edit("projects", WEBSITE, name="Website relaunch 2027")
        s.sync()
        after = s.pms("projects", project["id"])
        assert (after["name"], after["description"]) == ("Website relaunch 2027", joined)
        assert _notes(s, "projects", WEBSITE)["html_notes"] == project_before["html_notes"]
        s.assert_idle_sync_writes_nothing()

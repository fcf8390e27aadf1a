"""Rich text: ``html_notes`` keeps its formatting and ``notes`` is its plain view.

Asana's rules (developers.asana.com/docs/rich-text, the description's ``html_notes``
examples): rich text is valid XML rooted at ``<body>``, made of a known set of tags; an
@-mention is written ``<a data-asana-gid="..."/>`` and read back as a link Asana fills in;
``notes`` and ``html_notes`` are two views of one text, so writing either sets both. A
refused request changes nothing and answers Asana's 400 error body.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from asana_sandbox.conformance import ValidatingClient

if TYPE_CHECKING:
    from conftest import Demo

RICH = (
    "<body>Call <strong>today</strong>: <em>see</em> "
    '<a href="https://example.com/brief?a=1&amp;b=2">the brief</a>, ask '
    '<a data-asana-gid="{user}"/> &amp; co.\nSteps:<ul><li>one</li><li><u>two</u></li></ul>'
    "Done</body>"
)


def _task(api: ValidatingClient, demo: type[Demo]) -> str:
    project = demo.project_named(api, "Website relaunch")
    return api.get(f"/projects/{project}/tasks").json()["data"][0]["gid"]


def _me(api: ValidatingClient) -> dict[str, Any]:
    return api.get("/users/me", params={"opt_fields": "name"}).json()["data"]


def _notes(api: ValidatingClient, resource: str, gid: str) -> dict[str, Any]:
    params = {"opt_fields": "notes,html_notes"}
    return api.get(f"/{resource}/{gid}", params=params).json()["data"]


def _refused(response: Any, *words: str) -> None:
    assert response.status_code == 400, response.text
    message = response.json()["errors"][0]["message"]
    assert all(word in message for word in words), message


def test_html_notes_keep_their_formatting_and_notes_is_the_plain_view(
    api: ValidatingClient, demo: type[Demo]
) -> None:
    """Tags, links and mentions stay; notes has the text, a mention as its link."""
    task, me = _task(api, demo), _me(api)
    sent = RICH.format(user=me["gid"])
    assert api.put(f"/tasks/{task}", json={"data": {"html_notes": sent}}).status_code == 200
    read = _notes(api, "tasks", task)
    profile = f"https://app.asana.com/0/profile/{me['gid']}"
    mention = (
        f'<a href="{profile}" data-asana-gid="{me["gid"]}" data-asana-accessible="true" '
        f'data-asana-type="user" data-asana-dynamic="true">@{me["name"]}</a>'
    )
    assert read["html_notes"] == sent.replace(f'<a data-asana-gid="{me["gid"]}"/>', mention)
    assert read["notes"] == (
        f"Call today: see the brief, ask {profile} & co.\nSteps:\none\ntwo\nDone"
    )
    # What was read is written back unchanged (a client's round trip changes nothing).
    before = api.get(f"/tasks/{task}", params={"opt_fields": "modified_at"}).json()["data"]
    api.put(f"/tasks/{task}", json={"data": {"html_notes": read["html_notes"]}})
    after = api.get(f"/tasks/{task}", params={"opt_fields": "modified_at"}).json()["data"]
    assert after == before
    assert _notes(api, "tasks", task) == read


def test_plain_notes_are_escaped_into_html_notes(api: ValidatingClient, demo: type[Demo]) -> None:
    """Writing notes sets html_notes: <, > and & escaped, newlines kept."""
    project = demo.project_named(api, "Website relaunch")
    notes = 'Budget < 5k & scope > "MVP"\nsecond line'
    api.put(f"/projects/{project}", json={"data": {"notes": notes}})
    assert _notes(api, "projects", project) == {
        "gid": project,
        "notes": notes,
        "html_notes": '<body>Budget &lt; 5k &amp; scope &gt; "MVP"\nsecond line</body>',
    }


def test_a_team_description_is_the_plain_view_of_html_description(
    api: ValidatingClient, demo: type[Demo]
) -> None:
    """Teams keep description and html_description the same way."""
    team = api.get(f"/workspaces/{demo.org(api)}/teams").json()["data"][0]["gid"]
    rich = "<body>Our <strong>delivery</strong> crew</body>"
    api.put(f"/teams/{team}", json={"data": {"html_description": rich}})
    read = api.get(f"/teams/{team}", params={"opt_fields": "description,html_description"}).json()[
        "data"
    ]
    assert (read["description"], read["html_description"]) == ("Our delivery crew", rich)


def test_rich_text_asana_refuses_changes_nothing(api: ValidatingClient, demo: type[Demo]) -> None:
    """Invalid XML, another root, an unknown tag or object, a line break in a heading: 400."""
    task = _task(api, demo)
    before = _notes(api, "tasks", task)
    for html, words in (
        ("<body>unclosed <strong>bold</body>", ("html_notes", "XML")),
        ("plain text", ("html_notes", "XML")),
        ("<div>text</div>", ("html_notes", "<body>")),
        ("<body><font>text</font></body>", ("html_notes", "font")),
        ('<body><a data-asana-gid="999"/></body>', ("html_notes", "999")),
        ("<body><h1>two\nlines</h1></body>", ("html_notes", "h1")),
    ):
        _refused(api.put(f"/tasks/{task}", json={"data": {"html_notes": html}}), *words)
        assert _notes(api, "tasks", task) == before
    project = demo.project_named(api, "Website relaunch")
    create = {"name": "Rich", "projects": [project], "html_notes": "<body><b>x</b></body>"}
    _refused(api.post("/tasks", json={"data": create}), "html_notes", "b")

"""The Asana API pieces the tap and the target share: paging, error bodies, opt_fields."""

from __future__ import annotations

from typing import Any

from talk_sync import asana_api


def test_pages_follow_the_offsets_with_the_largest_page_size() -> None:
    answers = [
        {"data": [{"gid": "1"}], "next_page": {"offset": "a"}},
        {"data": [{"gid": "2"}], "next_page": {"offset": "b"}},
        {"data": [{"gid": "3"}], "next_page": None},
    ]
    queries: list[dict[str, Any]] = []

    def get_page(query: dict[str, Any]) -> dict[str, Any]:
        queries.append(query)
        return answers[len(queries) - 1]

    pages = list(asana_api.pages(get_page, {"project": "9"}))
    assert [page["data"][0]["gid"] for page in pages] == ["1", "2", "3"]
    assert queries == [
        {"project": "9", "limit": 100},
        {"project": "9", "limit": 100, "offset": "a"},
        {"project": "9", "limit": 100, "offset": "b"},
    ]


def test_error_text_joins_every_message_and_the_first_one_falls_back() -> None:
    body = {"errors": [{"message": "name: Missing input"}, {"message": "Not allowed"}]}
    assert asana_api.error_text(body) == "name: Missing input; Not allowed"
    assert asana_api.first_error_message(body, "Bad Request") == "name: Missing input"
    for unhelpful in (None, [], {}, {"errors": []}, {"errors": ["text"]}, {"errors": [{}]}):
        assert asana_api.error_text(unhelpful) == ""
        assert asana_api.first_error_message(unhelpful, "Bad Request") == "Bad Request"


def test_error_field_is_the_name_a_message_starts_with() -> None:
    assert asana_api.error_field("name: Missing input") == "name"
    assert asana_api.error_field("due_at.date: bad") == "due_at.date"
    assert asana_api.error_field("Not allowed") is None


def test_opt_fields_name_the_leaves_of_a_schema_but_not_what_always_comes() -> None:
    schema = {
        "properties": {
            "gid": {"type": "string"},
            "name": {"type": ["string", "null"]},
            "assignee": {"type": "object", "properties": {"gid": {}, "email": {}}},
            "team": {"type": "object", "properties": {"gid": {}}},
            "tags": {"type": "array", "items": {"properties": {"gid": {}, "name": {}}}},
            "is_deleted": {"type": "boolean"},
        }
    }
    fields = asana_api.opt_fields(schema, own_fields={"is_deleted"})
    assert fields == "name,assignee.email,team,tags.name"

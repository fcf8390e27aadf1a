"""Stream schemas, typed from Asana's official OpenAPI description.

Dates (``due_on``, ``start_on``) are ``format: date`` and timestamps ``format: date-time``,
as the description declares them. Each schema also decides what is requested: the
``opt_fields`` a stream sends are derived from its schema by
:func:`talk_sync.asana_api.opt_fields`, so a field is fetched if and only if it is emitted.
"""

from __future__ import annotations

from singer_sdk import typing as th


def _gid() -> th.Property:
    return th.Property("gid", th.StringType, required=True, description="Globally unique id")


def ref(*extra: th.Property) -> th.ObjectType:
    """A linked record as Asana renders it compactly: gid and name, plus ``extra``."""
    return th.ObjectType(
        th.Property("gid", th.StringType), th.Property("name", th.StringType), *extra
    )


#: A user with the email the sync matches people on.
USER = ref(th.Property("email", th.StringType))

#: ``{date, date_time}`` of a date custom field.
DATE_VALUE = th.ObjectType(
    th.Property("date", th.DateType),
    th.Property("date_time", th.DateTimeType),
)

ENUM_OPTION = ref(
    th.Property("color", th.StringType),
    th.Property("enabled", th.BooleanType),
)

_CUSTOM_FIELD_VALUES = (
    th.Property("gid", th.StringType),
    th.Property("name", th.StringType),
    th.Property("type", th.StringType),
    th.Property("representation_type", th.StringType),
    th.Property("display_value", th.StringType),
    th.Property("text_value", th.StringType),
    th.Property("number_value", th.NumberType),
    th.Property("date_value", DATE_VALUE),
    th.Property("enum_value", ENUM_OPTION),
    th.Property("multi_enum_values", th.ArrayType(ENUM_OPTION)),
    th.Property("enabled", th.BooleanType),
)

#: A custom field value on a project (``CustomFieldCompact``; ``display_value`` is a string).
PROJECT_CUSTOM_FIELD = th.ObjectType(*_CUSTOM_FIELD_VALUES)

#: A custom field value on a task (``CustomFieldResponse``, which adds people values).
TASK_CUSTOM_FIELD = th.ObjectType(
    *_CUSTOM_FIELD_VALUES, th.Property("people_value", th.ArrayType(ref()))
)

MEMBERSHIP = th.ObjectType(
    th.Property("project", ref()),
    th.Property("section", ref()),
)

WORKSPACE = th.PropertiesList(
    _gid(),
    th.Property("name", th.StringType),
    th.Property("is_organization", th.BooleanType),
    th.Property("email_domains", th.ArrayType(th.StringType)),
).to_dict()

TEAM = th.PropertiesList(
    _gid(),
    th.Property("name", th.StringType),
    th.Property("description", th.StringType),
    th.Property("organization", ref()),
    th.Property("visibility", th.StringType),
    th.Property("permalink_url", th.StringType),
).to_dict()

USER_RECORD = th.PropertiesList(
    _gid(),
    th.Property("name", th.StringType),
    th.Property("email", th.StringType),
    th.Property("workspaces", th.ArrayType(ref())),
).to_dict()

#: Our own field: a task or project deleted in Asana arrives as ``{"gid", "is_deleted": true}``.
IS_DELETED = "is_deleted"
#: The fields the tap adds, not Asana's: never requested through ``opt_fields``.
OWN_FIELDS = frozenset({IS_DELETED})

PROJECT = th.PropertiesList(
    _gid(),
    th.Property("name", th.StringType),
    th.Property("notes", th.StringType),
    th.Property("archived", th.BooleanType),
    th.Property("completed", th.BooleanType),
    th.Property("completed_at", th.DateTimeType),
    th.Property("color", th.StringType),
    th.Property("created_at", th.DateTimeType),
    th.Property("modified_at", th.DateTimeType),
    th.Property("start_on", th.DateType),
    th.Property("due_on", th.DateType),
    th.Property("default_view", th.StringType),
    th.Property("privacy_setting", th.StringType),
    th.Property("permalink_url", th.StringType),
    th.Property("owner", USER),
    th.Property("team", ref()),
    th.Property("workspace", ref()),
    th.Property(
        "current_status",
        th.ObjectType(
            th.Property("gid", th.StringType),
            th.Property("title", th.StringType),
            th.Property("text", th.StringType),
            th.Property("color", th.StringType),
            th.Property("created_at", th.DateTimeType),
            th.Property("modified_at", th.DateTimeType),
        ),
    ),
    th.Property("custom_fields", th.ArrayType(PROJECT_CUSTOM_FIELD)),
    th.Property(
        IS_DELETED,
        th.BooleanType,
        description="Not an Asana field: true when the project was deleted in Asana.",
    ),
).to_dict()

TASK = th.PropertiesList(
    _gid(),
    th.Property("name", th.StringType),
    th.Property("resource_subtype", th.StringType),
    th.Property("notes", th.StringType),
    th.Property("completed", th.BooleanType),
    th.Property("completed_at", th.DateTimeType),
    th.Property("created_at", th.DateTimeType),
    th.Property("modified_at", th.DateTimeType),
    th.Property("start_on", th.DateType),
    th.Property("start_at", th.DateTimeType),
    th.Property("due_on", th.DateType),
    th.Property("due_at", th.DateTimeType),
    th.Property("approval_status", th.StringType),
    th.Property("assignee", USER),
    th.Property("completed_by", USER),
    th.Property("parent", ref(th.Property("resource_subtype", th.StringType))),
    th.Property("memberships", th.ArrayType(MEMBERSHIP)),
    th.Property("projects", th.ArrayType(ref())),
    th.Property("workspace", ref()),
    th.Property("tags", th.ArrayType(ref())),
    th.Property("followers", th.ArrayType(ref())),
    th.Property("num_subtasks", th.IntegerType),
    th.Property("custom_fields", th.ArrayType(TASK_CUSTOM_FIELD)),
    th.Property("permalink_url", th.StringType),
    th.Property(
        IS_DELETED,
        th.BooleanType,
        description="Not an Asana field: true when the task was deleted in Asana.",
    ),
).to_dict()

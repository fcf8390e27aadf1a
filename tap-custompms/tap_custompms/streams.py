"""Custompms streams: one per resource, each with its schema from the contract."""

from __future__ import annotations

from singer_sdk import StreamSchema

from tap_custompms.client import CustompmsStream
from tap_custompms.schemas import CONTRACT


class CustomersStream(CustompmsStream):
    """Customers; `parent_id` links a sub-customer to its parent."""

    name = "customers"
    path = "/customers"
    schema = StreamSchema(CONTRACT, key="Customer")


class ProjectsStream(CustompmsStream):
    """Projects; `customer_id` names the owning customer."""

    name = "projects"
    path = "/projects"
    schema = StreamSchema(CONTRACT, key="Project")


class TasksStream(CustompmsStream):
    """Tasks and subtasks; `project_id` and `parent_task_id` link them."""

    name = "tasks"
    path = "/tasks"
    schema = StreamSchema(CONTRACT, key="Task")

"""Route registry and the path from a parsed request to a handler's reply.

HTTP requests and /batch actions both go through ``dispatch``, so a batch action is
validated, rendered and counted exactly like the same call made on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from asana_sandbox.errors import ApiError
from asana_sandbox.fields import (
    FieldTree,
    compact_tree,
    full_tree,
    parse_opt_fields,
    render,
)
from asana_sandbox.pagination import PageRequest, list_body, paginate
from asana_sandbox.sandbox import Sandbox
from asana_sandbox.spec import Operation, operation
from asana_sandbox.store import Store


@dataclass
class Reply:
    """A handler's answer: status, JSON body and extra headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Call:
    """One validated API call as handlers see it."""

    sandbox: Sandbox
    op: Operation
    path: dict[str, str]
    query: dict[str, Any]
    raw_query: dict[str, str]
    fields: FieldTree | None
    page: PageRequest
    data: dict[str, Any]
    api_path: str
    base_url: str
    actor: str | None = None
    counted: bool = True  # false for admin calls, which stay out of the stats
    seen: dict[tuple[str, str], bool] = field(default_factory=dict)

    @property
    def store(self) -> Store:
        """The sandbox's store."""
        return self.sandbox.store

    @property
    def me(self) -> str:
        """The gid of the acting user (the token's user unless an admin call says otherwise)."""
        return self.actor or self.sandbox.me

    def get(self, type_name: str, gid: str, *, label: str | None = None) -> dict[str, Any]:
        """A record named in the path: 400/404 as Asana, 403 when the user may not see it."""
        return self.store.get(type_name, gid, label=label, viewer=self.me)

    def ref(self, type_name: str, gid: Any, *, label: str) -> dict[str, Any]:
        """A record named in the body or query: 400 when unknown, 403 when not visible."""
        return self.store.ref(type_name, gid, label=label, viewer=self.me)

    def visible(self, type_name: str, record: dict[str, Any]) -> bool:
        """Whether the acting user may see a record (memoized for this call)."""
        return self.store.can_see(self.me, type_name, record, self.seen)

    def render(
        self, type_name: str, record: dict[str, Any], *, full: bool = True
    ) -> dict[str, Any]:
        """A record as requested: opt_fields selection, else full (single) or compact (lists)."""
        if self.fields is not None:
            tree = self.fields
        else:
            tree = full_tree(type_name) if full else compact_tree(type_name)
        return render(self.store, type_name, record, tree)

    def one(self, type_name: str, record: dict[str, Any], status: int = 200) -> Reply:
        """``{"data": record}``."""
        return Reply(status, {"data": self.render(type_name, record)})

    def many(
        self,
        type_name: str,
        order: list[str],
        accept: Callable[[dict[str, Any]], bool] | None = None,
    ) -> Reply:
        """A paginated list of the records of one type the acting user may see, compact unless
        opt_fields says otherwise."""
        records = self.store.records[type_name]

        def keep(gid: str) -> bool:
            record = records.get(gid)
            return (
                record is not None
                and (accept is None or accept(record))
                and self.visible(type_name, record)
            )

        picked, next_offset = paginate(order, self.page, self.sandbox.offsets, keep)
        data = [self.render(type_name, records[gid], full=False) for gid in picked]
        return Reply(
            200,
            list_body(
                data,
                next_offset,
                self.page,
                api_path=self.api_path,
                query={k: v for k, v in self.raw_query.items() if k != "offset"},
                base_url=self.base_url,
            ),
        )


Handler = Callable[[Call], Reply]


@dataclass(frozen=True)
class Route:
    """An implemented operation of the description and its handler."""

    method: str
    path: str
    handler: Handler

    @property
    def op(self) -> Operation:
        """The operation of the official description this route implements."""
        return operation(self.method, self.path)

    @property
    def is_write(self) -> bool:
        """POST, PUT, PATCH and DELETE are writes for Asana's concurrency limits."""
        return self.method != "get"


ROUTES: list[Route] = []


def route(method: str, path: str) -> Callable[[Handler], Handler]:
    """Register a handler for an operation of the description."""

    def register(handler: Handler) -> Handler:
        ROUTES.append(Route(method, path, handler))
        return handler

    return register


def dispatch(
    sandbox: Sandbox,
    target: Route,
    path_params: dict[str, str],
    raw_query: dict[str, str],
    body: Any,
    *,
    api_path: str,
    base_url: str,
    actor: str | None = None,
    counted: bool = True,
) -> Reply:
    """Validate a call against the description and run its handler; errors become replies.

    Field paths the description does not know are dropped, as live Asana ignores them, and
    counted in the stats (unless ``counted`` is false: admin calls stay out of the stats).
    """
    try:
        op = target.op
        typed = op.validate_query(raw_query)
        fields = None
        if "opt_fields" in typed:
            requested = typed.pop("opt_fields")
            unknown = op.unknown_opt_fields(requested)
            if unknown and counted:
                sandbox.stats.unknown_opt_fields.update(unknown)
            fields = parse_opt_fields([path for path in requested if path not in unknown])
        typed.pop("opt_pretty", None)
        limit = typed.pop("limit", None)
        # Lists the description does not paginate (users) accept limit but answer in full.
        page = PageRequest(limit if op.paginated else None, typed.pop("offset", None))
        data = op.validate_body(body) if op.body_schema is not None else {}
        call = Call(
            sandbox,
            op,
            path_params,
            typed,
            raw_query,
            fields,
            page,
            data,
            api_path,
            base_url,
            actor,
            counted,
        )
        return target.handler(call)
    except ApiError as error:
        return error_reply(error)


def error_reply(error: ApiError) -> Reply:
    """Asana's error envelope as a reply."""
    return Reply(error.status, error.body(), dict(error.headers))

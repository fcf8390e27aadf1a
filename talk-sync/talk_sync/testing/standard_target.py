"""The Singer SDK's standard target tests, fed with records of a real flow.

The SDK's canned streams (``test_array_data``, ``TestCamelcase``...) are no flow, so a
talk-sync target would read them all and skip every record. :func:`flow_target_suite`
rewrites each canned file as records of one flow the target writes: every stream becomes
that flow's stream, every record keeps its canned fields (arrays, camelCase and special
characters, encoded strings, missing optional fields...) and gains the flow's own fields
from ``flow_record``, and every schema with properties gains the flow's properties. The
quirk each test is about is kept, and the records reach the destination:

- a test that expects the target to fail (a record before its schema, a record without
  its key property, a schema without properties) still expects it;
- every other test then checks the link store: each record the file sends is linked to
  the record the destination holds, or was refused by it (kept), and the run report
  skipped none.

Records of the same stream and key are the same source record (``duplicate_records``
sends one record three times: one create, then updates). Source keys and names are derived
from the test, the canned stream and the record's key, so the tests of one module can share
a server.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from singer_sdk.testing import target_test_streams
from singer_sdk.testing.suites import SingerTestSuite, target_tests
from singer_sdk.testing.templates import TargetFileTestTemplate, TestTemplate

from talk_sync.link_status import LinkStatus
from talk_sync.linkstore import LinkStore

#: ``flow_record(key, name, canned)``: the flow's fields of the source record numbered
#: ``key`` (a positive integer, unique per test, stream and canned key) named ``name``;
#: ``canned`` is the canned record (for a field worth carrying, e.g. an encoded string).
FlowRecord = Callable[[int, str, Mapping[str, Any]], dict[str, Any]]


def flow_target_suite(
    *, stream: str, properties: Mapping[str, Any], source_ref: str, flow_record: FlowRecord
) -> SingerTestSuite:
    """The standard target tests, rewritten for ``stream`` (a flow name).

    ``properties``: the flow stream's schema properties; ``source_ref``: the field holding
    the namespaced source ref (``external_id``, ``source_ref``). Pass the suite to
    ``get_target_test_class(..., custom_suites=[suite], include_target_tests=False)`` and
    give the test class a ``runner`` fixture whose config points at a live destination,
    with a ``link_store_url`` and a ``report_path`` of the test's own (they are checked).
    """
    rewrite = _Rewrite(stream, dict(properties), source_ref, flow_record)
    tests: list[type[TestTemplate]] = []
    for test in target_tests.tests:
        if not issubclass(test, TargetFileTestTemplate):
            tests.append(test)  # e.g. cli_prints: no stream
            continue
        # The tests that override test() expect the target to fail (pytest.raises).
        expects_failure = test.test is not TestTemplate.test
        tests.append(
            type(
                test.__name__,
                (test,),
                {
                    "__doc__": f"{test.__doc__} (as {stream} records)",
                    "singer_filepath": property(lambda self: rewrite.file(self.name)),
                    "validate": _no_check if expects_failure else _every_record_applied(rewrite),
                },
            )
        )
    return SingerTestSuite(kind="target", tests=tests)


def _no_check(self: TargetFileTestTemplate) -> None:
    """The test itself expects the target to fail: there is no report to check."""


def _every_record_applied(rewrite: _Rewrite) -> Callable[[TargetFileTestTemplate], None]:
    def validate(self: TargetFileTestTemplate) -> None:
        name = self.name
        assert name, "the SDK names every test it runs"
        sent = rewrite.sent[name]
        # camelcase_complex_schema sends schemas only.
        assert sent or not rewrite.records[name], f"{name}: no record is a flow's"
        config = self.runner.config
        with LinkStore(config["link_store_url"]) as store:
            linked = {
                ref
                for ref in sent
                if (link := store.find(ref)) and link.status is LinkStatus.LINKED
            }
            refused = {reject.source_key for reject in store.rejects()}
        assert sent <= linked | refused, (
            f"{name}: neither written nor refused: {sorted(sent - linked - refused)}"
        )
        report = json.loads(Path(config["report_path"]).read_text())
        assert report["totals"]["skipped"] == 0, report["totals"]

    return validate


class _Rewrite:
    """The canned files rewritten as one flow's records, written once per test name."""

    def __init__(
        self, stream: str, properties: dict[str, Any], source_ref: str, flow_record: FlowRecord
    ) -> None:
        self.stream = stream
        self.properties = properties
        self.source_ref = source_ref
        self.flow_record = flow_record
        self.folder = Path(tempfile.mkdtemp(prefix=f"standard-{stream}-"))
        #: Per test name: the namespaced source refs its file sends (after a schema).
        self.sent: dict[str, set[str]] = {}
        #: Per test name: how many records its canned file holds.
        self.records: dict[str, int] = {}

    def file(self, name: str) -> Path:
        path = self.folder / f"{name}.singer"
        if not path.exists():
            canned = importlib.resources.files(target_test_streams) / f"{name}.singer"
            lines = canned.read_text(encoding="utf-8").splitlines()
            path.write_text("".join(self._lines(name, lines)), encoding="utf-8")
        return path

    def _lines(self, name: str, lines: list[str]) -> Iterator[str]:
        sent = self.sent.setdefault(name, set())
        self.records[name] = 0
        keys: dict[str, list[str]] = {}  # per canned stream, its key properties
        for line in lines:
            if not line.strip():
                continue
            message = json.loads(line)
            canned_stream = message.get("stream")
            if message["type"] == "SCHEMA":
                keys[canned_stream] = message.get("key_properties") or []
                schema = message["schema"]
                if "properties" in schema:  # one without stays invalid, as the test wants
                    schema["properties"] = {**schema["properties"], **self.properties}
            elif message["type"] == "RECORD":
                canned = message["record"]
                self.records[name] += 1
                key = [canned.get(k) for k in keys.get(canned_stream, [])] or [len(sent)]
                label = f"{name} {canned_stream} {'/'.join(map(str, key))}"
                number = _number(label)
                message["record"] = {**canned, **self.flow_record(number, label, canned)}
                if canned_stream in keys and all(k in canned for k in keys[canned_stream]):
                    sent.add(message["record"][self.source_ref])
            if canned_stream is not None:
                message["stream"] = self.stream
            yield json.dumps(message) + "\n"


def _number(label: str) -> int:
    """A positive integer key for ``label``, stable across runs (a Custompms id or a gid)."""
    return int(hashlib.sha256(label.encode()).hexdigest()[:12], 16) % 10**9 + 1

"""An interrupted run leaves a resumable bookmark, and the next run starts from it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tap_custompms.testing import STUB_TOKEN, Reply, StubApi, customer, run_tap

STAMPS = [f"2026-03-01T00:00:00.00000{i}Z" for i in range(1, 7)]


def page(ids: list[int], next_cursor: str | None) -> dict:
    return {"data": [customer(i, STAMPS[i - 1]) for i in ids], "next_cursor": next_cursor}


def test_sigterm_mid_walk_emits_a_bookmark_the_next_run_resumes_from(
    stub_api: StubApi, tmp_path: Path
) -> None:
    hang = threading.Event()
    stub_api.script(
        "customers",
        Reply(body=page([1, 2], "c-2")),
        Reply(body=page([3, 4], "c-3")),
        Reply(body=page([5, 6], None), wait_for=hang),  # the walk stalls here
    )
    config = {"api_url": stub_api.api_url, "api_token": STUB_TOKEN, "page_size": 2}
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    tap = Path(sys.executable).with_name("tap-custompms")

    proc = subprocess.Popen(
        [str(tap), "--config", str(config_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines: list[dict] = []
        while sum(m["type"] == "RECORD" for m in lines) < 4:
            lines.append(json.loads(proc.stdout.readline()))
        # Interrupt while the tap waits for the third page, i.e. once it is done with the
        # fourth record (a record's bookmark is taken just after the record is written).
        while len(stub_api.requests_for("customers")) < 3:
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        hang.set()
        if proc.poll() is None:
            proc.kill()
    lines += [json.loads(line) for line in out.splitlines() if line]

    emitted = [m["record"]["id"] for m in lines if m["type"] == "RECORD"]
    assert emitted == [1, 2, 3, 4]
    final_state = [m["value"] for m in lines if m["type"] == "STATE"][-1]
    bookmark = final_state["bookmarks"]["customers"]
    assert bookmark["replication_key_value"] == STAMPS[3]
    assert "progress_markers" not in bookmark  # sorted stream: the bookmark is resumable

    # The next run asks for records from the bookmark on (inclusive), skips the one it
    # already emitted, and so neither skips nor repeats a record.
    stub_api.script("customers", Reply(body=page([4, 5, 6], None)))
    resumed = run_tap(config, state=final_state)

    assert stub_api.requests_for("customers")[-1].query["updated_since"] == STAMPS[3]
    assert [r["id"] for r in resumed.records("customers")] == [5, 6]
    assert resumed.state["bookmarks"]["customers"]["replication_key_value"] == STAMPS[5]

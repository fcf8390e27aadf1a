"""Custompms records Asana's own rules refuse, through `meltano run sync` (both directions).

Asana keeps no start date without a due date, and no project whose start and due dates are
the same day. Such records are written with what Asana allows (the due date), the omission
is reported per record, the Custompms start date survives the way back, and nothing is
re-sent on the next sync.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from local_stack import local_stack
from local_stack.systems import Systems

pytestmark = pytest.mark.e2e

WEBSITE = "1200000000000064"  # an Asana project of the demo seed ("Website relaunch")


def test_dates_asana_refuses_are_left_out_reported_and_kept_in_custompms(
    tmp_path: Path, meltano_installed: None
) -> None:
    with local_stack(tmp_path, custompms_seed=True, discover_once=True) as stack:
        s = Systems(stack)
        s.sync()  # links the demo; the sample's "GDPR data audit" has a start date only
        europe = next(c for c in s.pms_all("customers") if c["name"] == "Acme Europe")
        one_day = s.pms_create(
            "projects",
            name="Kick-off workshop",
            customer_id=europe["id"],
            start_date="2026-06-01",
            end_date="2026-06-01",
        )
        website = s.pms_of("projects", f"asana-project:{WEBSITE}")
        starts_only = s.pms_create(
            "tasks", name="Starts only", project_id=website["id"], start_date="2026-06-02"
        )

        reports = s.sync()

        skipped = {
            (change["record"], tuple(change["fields"])): change["detail"]
            for change in reports["custompms -> asana"]["changes"]
            if change["outcome"] == "skipped"
        }
        gdpr = next(p for p in s.pms_all("projects") if p["name"] == "GDPR data audit")
        for record, start in (
            (("projects", one_day["id"]), "2026-06-01"),
            (("tasks", starts_only["id"]), "2026-06-02"),
            (("projects", gdpr["id"]), "2027-01-11"),
        ):
            resource, key = record
            asana = s.asana(
                resource, s.asana_ref_of(f"custompms-{resource[:-1]}:{key}").split(":")[1]
            )
            assert asana["start_on"] is None, (record, asana)
            assert s.pms(resource, key)["start_date"] == start  # kept in Custompms
        assert (
            s.asana("projects", s.asana_ref_of(f"custompms-project:{one_day['id']}").split(":")[1])[
                "due_on"
            ]
            == "2026-06-01"
        )
        assert "same day" in skipped[(f"custompms-project:{one_day['id']}", ("start_on",))]
        assert (
            "no start date without a due date"
            in skipped[(f"custompms-task:{starts_only['id']}", ("start_on",))]
        )
        assert not [r for r in reports["custompms -> asana"]["rejects"] if "start" in r["reason"]]
        s.assert_idle_sync_writes_nothing()

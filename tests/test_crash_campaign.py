"""The crash campaign's fast subset: `meltano run sync` killed -9 inside a write window.

Each trial holds one write of one direction in its window with a proxy (see
local_stack.write_gate), kills the whole process group there, reruns the sync until a run
writes nothing, and compares both systems with a clean run's. The full campaign (24 trials,
every direction and window) is `make crash-campaign`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from local_stack.crash_campaign import Reference, Trial, render, run_trial

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    "trial",
    [
        # The reported failure: Custompms holds records whose links are not complete; the
        # rerun's Custompms -> Asana block runs first.
        Trial("asana-to-custompms", "delivered", 3),
    ],
    ids=str,
)
def test_a_sync_killed_inside_a_write_window_ends_whole_with_no_duplicate(
    trial: Trial, clean_reference: Reference, tmp_path: Path
) -> None:
    result = run_trial(tmp_path, trial, clean_reference)
    assert result.ok, render([result])


def test_on_postgresql_a_killed_sync_ends_whole_with_no_duplicate(
    clean_reference: Reference, tmp_path: Path, postgres_url: str
) -> None:
    # Asana ran a create whose answer never arrived; Asana -> Custompms runs next, on its
    # own, and meets the records that create made.
    trial = Trial("custompms-to-asana", "answered", 1, other_first=True)
    result = run_trial(tmp_path, trial, clean_reference, link_store_url=postgres_url)
    assert result.ok, render([result])

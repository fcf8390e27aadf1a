"""docs/qa-checklist.rst is what the flow descriptions generate."""

from __future__ import annotations

from pathlib import Path

from talk_sync.flows import FLOWS
from talk_sync.qa_checklist import PATH, SENTENCE, render, title

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_checklist_is_generated_from_the_flows() -> None:
    committed = (ROOT / PATH).read_text(encoding="utf-8")
    assert committed == render(), "run `make qa-checklist` and commit docs/qa-checklist.rst"


def test_every_flow_has_its_section_sentence_and_a_filled_table() -> None:
    text = render()
    assert text.count(SENTENCE) == len(FLOWS)
    for flow in FLOWS:
        assert title(flow) in text
        assert flow.rows
        assert flow.not_synced
        for row in flow.rows:
            assert row.custompms, (flow.name, row)
            assert row.asana or row.asana_label, (flow.name, row)
    assert "Asana Tasks → Custompms Project (board tasks)" in text
    assert "⇄" in text
    assert "→" in text

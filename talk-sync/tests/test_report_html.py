"""``talk-sync report``: the recent runs as text, and as one self-contained HTML page that a
real headless Chromium renders without console errors (issue #15, point 7).

The runs are real :class:`RunReport` objects written as the targets write them; record
values come from users, so some here are HTML that would run if the page did not escape it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest
from talk_sync.cli import main
from talk_sync.linkstore import LinkStore
from talk_sync.merge import merge
from talk_sync.refs import Side
from talk_sync.report import Outcome, RunReport
from talk_sync.report_files import recent_runs, report_file_name
from talk_sync.report_html import LinkedPairs, render_html
from talk_sync.testing.headless_browser import HeadlessChromium, chromium_path

#: A task name that would load an image and log an error if the page did not escape it.
HOSTILE = "<img src=x onerror=\"console.error('not escaped')\">Launch"
#: A reason that would close its cell and run a script.
SCRIPTED = "</td></tr></table><script>console.error('not escaped')</script>"
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)
SECTIONS = ["summary", "chart", "runs", "failed", "conflicts", "rejects", "skipped", "left-behind"]


def _write(report: RunReport, directory: Path) -> None:
    direction = f"{report.source}-to-{report.source.other}"
    report.write_json(directory / report_file_name(direction, report.started_at))


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    """Three runs: one with a conflict, a refusal and a skip; one failed; one leaving
    records behind (deferred, stuck, unreadable, ambiguous)."""
    directory = tmp_path / "reports"
    first = RunReport(Side.ASANA, started_at=T0)
    first.count("task_task", Outcome.CREATED, n=3)
    first.count(5, Outcome.UPDATED, record="asana-task:7", fields=["name"])
    first.count(5, Outcome.SKIPPED, record="asana-task:9", detail=f"project of {HOSTILE} unlinked")
    result = merge(
        {"name": "Launch"},
        {"name": HOSTILE},
        {"name": "Launch v2"},
        source=Side.ASANA,
        ours_modified_at="2026-11-30T08:00:00Z",
        theirs_modified_at="2026-11-30T07:00:00Z",
    )
    first.conflict(5, "asana-task:7", result.conflicts[0])
    first.reject(5, "asana-task:8", f"422 name {SCRIPTED} is too long", "name")
    first.finish()
    _write(first, directory)

    second = RunReport(Side.CUSTOMPMS, started_at=T0 + timedelta(minutes=15))
    second.count("project_project", Outcome.CREATED, n=2)
    second.fail(f"1 writes failed after retries (first: 503 {SCRIPTED})\nTraceback...")
    _write(second, directory)

    third = RunReport(Side.ASANA, started_at=T0 + timedelta(minutes=30))
    third.count(5, Outcome.UNCHANGED, n=40)
    third.defer(5, "asana-task:8", "422 name is too long", "name", retry_at=T0, attempts=2)
    third.stuck(5, "asana-task:11", f"its project {HOSTILE} was deleted")
    third.unreadable_object("asana-project:12", "403 private project")
    third.ambiguous(5, "asana-task:13", ["custompms-task:1", "custompms-task:2"], "two match")
    third.finish()
    _write(third, directory)
    return directory


@pytest.fixture
def links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A link store with three linked pairs (two tasks, one customer)."""
    path = tmp_path / "links.db"
    with LinkStore(path) as store:
        store.link(5, "asana-task:7", "custompms-task:70", origin=Side.ASANA)
        store.link(5, "asana-task:8", "custompms-task:80", origin=Side.ASANA)
        store.link(2, "asana-team:3", "custompms-customer:30", origin=Side.ASANA)
    monkeypatch.setenv("TALK_SYNC_LINK_STORE_URL", str(path))
    return path


def talk_sync(*args: str) -> int:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    return int(exited.value.code or 0)


def render(reports: Path, *options: str) -> str:
    output = reports.parent / "page.html"
    options = ("--html", "--report-dir", str(reports), "--output", str(output), *options)
    assert talk_sync("report", *options) == 0
    return output.read_text(encoding="utf-8")


class _Tags(HTMLParser):
    """Every start tag of a page, with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_the_text_summary_has_one_line_per_run_and_names_the_failure(
    reports: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert talk_sync("report", "--report-dir", str(reports)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1:4] for line in lines] == [
        ["asana", "->", "custompms:"],
        ["custompms", "->", "asana:"],
        ["asana", "->", "custompms:"],
    ]
    assert lines[1].startswith("2026-11-30T09:15:00.000000Z custompms -> asana: FAILED (1 writes")
    assert "Traceback" not in lines[1]  # the reason is one line


def test_the_page_is_self_contained_and_escapes_every_value(reports: Path, links: Path) -> None:
    page = render(reports)
    parser = _Tags()
    parser.feed(page)
    tags = {tag for tag, _ in parser.tags}
    assert not tags & {"script", "img", "link", "iframe", "object", "embed"}, tags
    urls = [v for _, attrs in parser.tags for k, v in attrs.items() if k in ("src", "href")]
    assert urls == []
    assert not re.search(r"https?://|url\(", page)
    assert "<img src=x" not in page
    assert "<script>" not in page
    assert "&lt;img src=x onerror=&quot;console.error(&#x27;not escaped&#x27;)&quot;&gt;" in page
    assert [attrs["id"] for tag, attrs in parser.tags if tag == "section"] == SECTIONS
    assert sum(tag == "svg" for tag, _ in parser.tags) == 5  # one chart per flow


def test_runs_limits_the_page_to_the_newest_runs_and_the_default_output(
    reports: Path, links: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert talk_sync("report", "--html", "--report-dir", str(reports), "--runs", "2") == 0
    assert "2 runs rendered to " in capsys.readouterr().err
    page = (reports / "report.html").read_text(encoding="utf-8")
    assert "Launch v2" not in page  # the first run's conflict is not among the last two
    assert "its project" in page
    assert (reports / "report.html").stat().st_mode & 0o077 == 0  # it holds record values


def test_a_missing_link_store_is_said_and_not_created(
    reports: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nowhere" / "links.db"
    monkeypatch.setenv("TALK_SYNC_LINK_STORE_URL", f"sqlite:///{missing}")
    page = render(reports)
    assert "Link store not read: no link store at" in page
    assert not missing.exists()


def test_a_dry_run_is_marked_and_its_bars_faded(tmp_path: Path) -> None:
    preview = RunReport(Side.ASANA, dry_run=True, started_at=T0)
    preview.count("task_task", Outcome.CREATED, record="asana-task:1", fields=["name"])
    preview.finish()
    _write(preview, tmp_path)
    runs, problems = recent_runs(tmp_path, 10)
    page = render_html(runs, LinkedPairs({}), source=str(tmp_path), generated_at="now")
    assert problems == []
    assert "succeeded (dry run)" in page
    assert 'fill="#2f9e44" opacity="0.35"' in page  # the created bar, faded
    assert "dry run: nothing written" in page


# --- in a real browser ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[HeadlessChromium]:
    if chromium_path() is None:
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(
                "CI=true requires the browser test to run: chromium is not installed "
                "(.ci/run installs it: apt-get install chromium)",
                pytrace=False,
            )
        pytest.skip("chromium is not installed (apt-get install chromium); CI runs this test")
    with HeadlessChromium() as running:
        yield running


#: What the test reads from the rendered page.
PROBES = {
    "sections": "[...document.querySelectorAll('section')].map(s => s.id)",
    "headings": "[...document.querySelectorAll('section > h2')].map(h => h.textContent)",
    "charts": "[...document.querySelectorAll('#chart svg')]"
    ".map(s => Math.round(s.getBoundingClientRect().width))",
    "bars": "document.querySelectorAll('#chart svg rect[fill]:not([fill=transparent])').length",
    "linked": "document.querySelector('#linked-pairs b').textContent",
    "failed_rows": "document.querySelectorAll('#runs tr.failed').length",
    "failure": "document.querySelector('#failed td:last-child').textContent",
    "conflict": "[...document.querySelectorAll('#conflicts tbody td')].map(td => td.textContent)",
    "rejects": "document.querySelectorAll('#rejects tbody tr').length",
    "left_behind": "document.querySelectorAll('#left-behind tbody tr').length",
    "injected": "document.querySelectorAll('img, script, iframe').length",
}


def test_the_page_renders_its_sections_in_chromium_without_console_errors(
    reports: Path, links: Path, browser: HeadlessChromium
) -> None:
    render(reports)
    page = browser.load((reports.parent / "page.html").as_uri(), PROBES)
    assert page.errors == []
    assert page.remote_requests == []
    seen = page.values
    assert seen["sections"] == SECTIONS
    assert all(heading for heading in seen["headings"])
    assert len(seen["charts"]) == 5
    assert all(width > 100 for width in seen["charts"]), seen["charts"]  # drawn, not collapsed
    assert seen["bars"] > 5
    assert seen["linked"] == "3"
    assert seen["failed_rows"] == 1
    assert seen["failure"].startswith("1 writes failed after retries (first: 503 </td></tr>")
    # Both values and the winner, shown as the text people typed.
    assert seen["conflict"][5:8] == [HOSTILE, "Launch v2", "asana"]
    assert seen["rejects"] == 2  # refused, and deferred later
    assert seen["left_behind"] == 3  # stuck, ambiguous, unreadable
    assert seen["injected"] == 0


def test_the_browser_check_sees_console_errors_and_remote_requests(
    tmp_path: Path, browser: HeadlessChromium
) -> None:
    """The control: a page that logs an error and asks for a remote image is caught."""
    broken = tmp_path / "broken.html"
    broken.write_text(
        '<!DOCTYPE html><img src="http://127.0.0.1:9/x.png"><script>console.error("boom")</script>',
        encoding="utf-8",
    )
    page = browser.load(broken.as_uri())
    assert "console.error: boom" in page.errors
    assert page.remote_requests == ["http://127.0.0.1:9/x.png"]

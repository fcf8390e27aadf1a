"""Throughput of the sync engine: how target-custompms keeps up with tap-asana-talk.

Seeds the 100-project world (10,000 top-level tasks plus 2,000 subtasks), serves it with no
latency and no quota (the tap is unthrottled, so Asana's quota does not hide the engine),
and prints, for each link store (SQLite, then PostgreSQL in a throwaway local cluster):

- ``tap -> target-jsonl``: the tap's stream written to files (the yardstick);
- ``tap -> target-custompms``: a first sync into an empty Custompms, and its ratio to the
  yardstick;
- ``target-custompms < file``: the target alone, fed the same stream from a file, in
  records per second, with its peak RSS;
- an idle ``meltano run sync`` of that world (both directions, nothing changed), beside the
  runs of the two taps alone in the same idle state (their own requests);
- the same first sync and target-alone run on a world ``--scale`` times bigger (default 10:
  120,000 tasks), with the growth factor of each and the target's peak RSS (on PostgreSQL
  too with ``--big-postgres``);
- the floors under those figures on this machine: a Singer SDK target that does nothing
  (``bench/noop_target.py``) fed the same stream, with and without the SDK's record
  validation, and the start of the Meltano CLI and of the SDK's import alone.

    .venv/bin/python bench/sync_engine.py [--projects 100 --tasks 10000 --subtasks 2000]
        [--scale 10] [--no-postgres] [--big-postgres] [--no-idle]

Goals (issue 16): the first sync within 1.5x of the yardstick; the target alone at 5,000
records/s or more; the idle sync within 5 s plus the taps' own idle requests; time growing
linearly with the world; the target's peak RSS under 500 MB on the big world.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from asana_sandbox.seeds.synthetic import Shape, write
from asana_sandbox.testing import SandboxServer, running_sandbox
from custompms.testing import running_server
from local_stack import install_plugins, local_stack
from local_stack.launcher import launch
from local_stack.stack import PROJECT_ROOT
from talk_sync.testing.postgres import PostgresCluster, running_postgres

#: So many requests per minute that the tap's pacing never waits.
UNTHROTTLED = 1_000_000
VENV = PROJECT_ROOT / ".venv"
PLUGIN_BIN = PROJECT_ROOT / ".meltano" / "{kind}" / "{name}" / "venv" / "bin" / "{name}"


@dataclass(frozen=True)
class Timed:
    """One process pipeline: its wall time, the last process's peak RSS, records read."""

    seconds: float
    peak_rss_mb: float
    records: int = 0


def plugin(kind: str, name: str) -> str:
    """The console script Meltano installed for a plugin."""
    return str(PLUGIN_BIN).format(kind=kind, name=name)


def target_jsonl() -> str:
    """MeltanoLabs' yardstick loader (singer-python), installed once into its own venv."""
    venv = VENV / "bench" / "target-jsonl"
    executable = venv / "bin" / "target-jsonl"
    if not executable.exists():
        uv = str(VENV / "bin" / "uv")
        subprocess.run([uv, "venv", "-q", "-p", sys.executable, str(venv)], check=True)
        python = str(venv / "bin" / "python")
        subprocess.run([uv, "pip", "install", "-q", "-p", python, "target-jsonl"], check=True)
    return str(executable)


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(json.dumps(config))
    return path


def run_pipeline(first: list[str] | IO[bytes], last: list[str], cwd: Path) -> Timed:
    """Run ``first | last`` (or ``last < file``); wall time and ``last``'s peak RSS."""
    started = time.perf_counter()
    if isinstance(first, list):
        source = subprocess.Popen(first, stdout=subprocess.PIPE, cwd=cwd)
        stdin: Any = source.stdout
    else:
        source, stdin = None, first
    sink = subprocess.Popen(last, stdin=stdin, stdout=subprocess.DEVNULL, cwd=cwd)
    if source is not None and source.stdout is not None:
        source.stdout.close()  # the sink holds the pipe now
    _pid, status, usage = os.wait4(sink.pid, 0)
    seconds = time.perf_counter() - started
    sink.returncode = os.waitstatus_to_exitcode(status)
    if source is not None and source.wait() != 0:
        sys.exit(f"{first[0]} exited {source.returncode}")
    if sink.returncode != 0:
        sys.exit(f"{last[0]} exited {sink.returncode}")
    return Timed(seconds, usage.ru_maxrss / 1024)


def make_world(folder: Path, projects: int, tasks: int, subtasks: int) -> Path:
    data = folder / f"asana-{tasks + subtasks}.json"
    if not data.exists():
        write(data, Shape(projects=projects, tasks=tasks, subtasks=subtasks))
    return data


@contextmanager
def served_world(data: Path, workdir: Path) -> Iterator[SandboxServer]:
    """The sandbox serving a copy of ``data`` (it saves its state into the file it loads)."""
    copy = workdir / data.name
    shutil.copy(data, copy)
    with running_sandbox(seed=None, data_file=copy, launch=launch) as server:
        yield server


def tap_config(server: SandboxServer, workdir: Path) -> Path:
    return write_config(
        workdir / "tap.json",
        {
            "access_token": server.token,
            "api_url": server.api_url,
            "requests_per_minute": UNTHROTTLED,
        },
    )


def tap_command(config: Path, state: Path | None = None) -> list[str]:
    command = [plugin("extractors", "tap-asana-talk"), "--config", str(config)]
    return command + (["--state", str(state)] if state else [])


class FirstSyncs:
    """First syncs of one world into a fresh Custompms and link store each time."""

    def __init__(self, server: SandboxServer, workdir: Path) -> None:
        self.server = server
        self.workdir = workdir
        self.tap = tap_command(tap_config(server, workdir))
        self.runs = 0

    def _fresh(self, cluster: PostgresCluster | None) -> tuple[Path, str]:
        """A folder and a link store URL nobody used yet."""
        self.runs += 1
        folder = self.workdir / f"run-{self.runs}"
        folder.mkdir()
        if cluster is not None:
            return folder, cluster.create_database(f"links_{os.getpid()}_{self.runs}")
        return folder, f"sqlite:///{folder / 'links.db'}"

    @contextmanager
    def target(self, cluster: PostgresCluster | None) -> Iterator[tuple[list[str], Path]]:
        """target-custompms's command against an empty Custompms and link store."""
        folder, store = self._fresh(cluster)
        with running_server(folder / "custompms.db", launch=launch) as custompms:
            config = {
                "api_url": custompms.api_url,
                "api_token": custompms.token,
                "link_store_url": store,
                "report_path": str(folder / "report.json"),
            }
            yield (
                [
                    plugin("loaders", "target-custompms"),
                    "--config",
                    str(write_config(folder / "target.json", config)),
                ],
                folder,
            )

    def capture(self) -> tuple[Path, Timed]:
        """The tap's stream, in a file: the same stream for every run below."""
        stream = self.workdir / "stream.jsonl"
        started = time.perf_counter()
        with stream.open("wb") as out:
            subprocess.run(self.tap, stdout=out, check=True, cwd=self.workdir)
        records = sum(1 for line in stream.open("rb") if line.startswith(b'{"type":"RECORD"'))
        return stream, Timed(time.perf_counter() - started, 0, records)

    def to_jsonl(self) -> Timed:
        folder = self.workdir / "jsonl"
        folder.mkdir(exist_ok=True)
        return run_pipeline(self.tap, [target_jsonl()], folder)

    def to_custompms(self, cluster: PostgresCluster | None) -> Timed:
        with self.target(cluster) as (command, folder):
            return run_pipeline(self.tap, command, folder)

    def from_file(self, stream: Path, cluster: PostgresCluster | None) -> Timed:
        with self.target(cluster) as (command, folder), stream.open("rb") as source:
            return run_pipeline(source, command, folder)


def idle_sync(data: Path, workdir: Path, link_store_url: str | None) -> tuple[float, float]:
    """An idle `meltano run sync` (after the first two) and both taps alone, idle."""
    with local_stack(
        workdir,
        asana_seed=None,
        data_file=_copy(data, workdir),
        discover_once=True,
        link_store_url=link_store_url,
    ) as stack:
        stack.env["TAP_ASANA_TALK_REQUESTS_PER_MINUTE"] = str(UNTHROTTLED)
        stack.run("sync")
        stack.run("sync")  # reads back what the first one wrote
        started = time.perf_counter()
        stack.run("sync")
        sync = time.perf_counter() - started
        taps = 0.0
        for tap, target in (
            ("tap-asana-talk", "target-custompms"),
            ("tap-custompms", "target-asana-talk"),
        ):
            taps += idle_tap_seconds(stack.meltano, tap, target)
        return sync, taps


def idle_tap_seconds(meltano: Any, tap: str, target: str) -> float:
    """The tap alone, run as its own process from the config, catalog and state its
    pipeline used: what its own idle requests (and its start) cost, without Meltano."""
    folder = Path(tempfile.mkdtemp(prefix="idle-tap-"))
    stored = json.loads(meltano("state", "get", f"test:{tap}-to-{target}").stdout)
    (folder / "state.json").write_text(json.dumps(stored.get("singer_state", stored)))
    for dump in ("config", "catalog"):
        (folder / f"{dump}.json").write_text(meltano("invoke", f"--dump={dump}", tap).stdout)
    command = [plugin("extractors", tap)]
    command += [f"--{name}={folder / f'{name}.json'}" for name in ("config", "catalog", "state")]
    started = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def _copy(data: Path, workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(data, workdir / data.name))


def report_idle(data: Path, workdir: Path, link_store_url: str | None) -> None:
    sync, taps = idle_sync(data, workdir, link_store_url)
    print(
        f"  idle `meltano run sync`                     {sync:7.1f} s  (the two taps alone: "
        f"{taps:.1f} s; the rest, Meltano and both targets: {sync - taps:.1f} s)",
        flush=True,
    )


def best_of(runs: int, command: list[str], stdin: Path | None = None) -> float:
    """The fastest of ``runs`` runs of ``command``: the floor, without the machine's noise."""
    times = []
    for _ in range(runs):
        with open(stdin or os.devnull, "rb") as source:
            started = time.perf_counter()
            subprocess.run(
                command,
                stdin=source,
                stdout=subprocess.DEVNULL,
                check=True,
                stderr=subprocess.DEVNULL,
            )
            times.append(time.perf_counter() - started)
    return min(times)


def report_floors(stream: Path, records: int, workdir: Path) -> None:
    """What any SDK target and any `meltano run` cost here before doing any work."""
    python = str(Path(plugin("loaders", "target-custompms")).parent / "python")
    noop = [python, str(Path(__file__).with_name("noop_target.py")), "--config"]
    print(" floors on this machine (best of 3)", flush=True)
    for label, validate in (("with", True), ("without", False)):
        config = write_config(workdir / f"noop-{validate}.json", {"validate_records": validate})
        seconds = best_of(3, [*noop, str(config)], stream)
        print(
            f"  {f'SDK target doing nothing, {label} validation':<44}{seconds:7.1f} s  "
            f"{records:>8,} records  {records / seconds:>7,.0f} rec/s",
            flush=True,
        )
    starts = {
        "the SDK's import alone": [python, "-c", "import singer_sdk"],
        "`meltano --version` (Meltano's own start)": [str(VENV / "bin" / "meltano"), "--version"],
    }
    for label, command in starts.items():
        print(f"  {label:<44}{best_of(3, command):7.1f} s", flush=True)


def report(label: str, timed: Timed, *, yardstick: Timed | None = None) -> None:
    line = f"  {label:<44}{timed.seconds:7.1f} s"
    if timed.records:
        line += f"  {timed.records:>8,} records  {timed.records / timed.seconds:>7,.0f} rec/s"
    if timed.peak_rss_mb:
        line += f"  peak RSS {timed.peak_rss_mb:4.0f} MB"
    if yardstick is not None:
        line += f"  = {timed.seconds / yardstick.seconds:.2f}x target-jsonl"
    print(line, flush=True)


def bench_store(
    name: str,
    worlds: dict[int, Path],
    workdir: Path,
    cluster: PostgresCluster | None,
) -> None:
    print(f"\nlink store: {name}", flush=True)
    per_size: dict[int, tuple[Timed, Timed]] = {}
    for size, data in worlds.items():
        folder = workdir / f"{name}-{size}"
        folder.mkdir()
        with served_world(data, folder) as server:
            syncs = FirstSyncs(server, folder)
            stream, tapped = syncs.capture()
            print(f" world of {size:,} tasks: {tapped.records:,} records", flush=True)
            report("tap -> file", tapped)
            jsonl = syncs.to_jsonl()
            report("tap -> target-jsonl", jsonl)
            first = syncs.to_custompms(cluster)
            report("tap -> target-custompms (first sync)", first, yardstick=jsonl)
            alone = syncs.from_file(stream, cluster)
            alone = Timed(alone.seconds, alone.peak_rss_mb, tapped.records)
            report("target-custompms < file (first sync)", alone)
            per_size[size] = (first, alone)
            if size == min(worlds) and cluster is None:  # once, on the small world
                report_floors(stream, tapped.records, folder)
    sizes = sorted(per_size)
    if len(sizes) == 2:
        small, big = sizes
        factor = big / small
        for index, label in enumerate(("first sync", "target alone")):
            growth = per_size[big][index].seconds / per_size[small][index].seconds
            print(
                f"  growth {small:,} -> {big:,} tasks ({factor:.0f}x): {label} "
                f"{growth:.1f}x time ({growth / factor:.2f} of linear)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=100)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--subtasks", type=int, default=2_000)
    parser.add_argument("--scale", type=int, default=10, help="the big world (1: none)")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-idle", action="store_true")
    parser.add_argument("--big-postgres", action="store_true", help="the big world there too")
    options = parser.parse_args()

    install_plugins()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        base = (options.projects, options.tasks, options.subtasks)
        small = options.tasks + options.subtasks
        worlds = {small: make_world(workdir, *base)}
        if options.scale > 1:
            big = tuple(n * options.scale for n in base)
            worlds[small * options.scale] = make_world(workdir, *big)
        print(
            f"world: {options.projects} projects, {small:,} tasks "
            f"({options.subtasks:,} subtasks); big world x{options.scale}; tap unthrottled"
        )
        bench_store("sqlite", worlds, workdir, None)
        if not options.no_idle:
            report_idle(worlds[small], workdir / "idle-sqlite", None)
        if options.no_postgres:
            return
        with running_postgres() as cluster:
            # The growth is the engine's, measured on SQLite; PostgreSQL's big world on demand.
            on_postgres = worlds if options.big_postgres else {small: worlds[small]}
            bench_store("postgresql", on_postgres, workdir, cluster)
            if not options.no_idle:
                report_idle(worlds[small], workdir / "idle-pg", cluster.create_database("idle"))


if __name__ == "__main__":
    main()

"""`make test-pythons`: the plugin suites on every other Python the packages support.

For each version that ``requires-python`` admits (talk-sync's; every package states the same),
other than the one running `make test` (its suites run there): a uv virtualenv under
.venv/pythons/<version>, the project's packages and the test tools installed into it, then
pytest on talk-sync's and the four plugins' tests (not the end-to-end tests/ folder, which
drives Meltano: the main run has it). Interpreters are found in pyenv's folders and by
``uv python find``; a version this machine lacks is named and skipped, except under
``CI=true``, where it fails (CI must run every version requires-python states).

The versions run at once, each with ``pytest -n 2``; prints each one's summary and time, and
the output of those that fail.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parent.parent
UV = str(Path(sys.executable).with_name("uv"))
#: The Python versions this machine kind has; the suites run on those requires-python admits.
KNOWN_VERSIONS = ("3.10", "3.11", "3.12", "3.13", "3.14")
SUITES = (
    "talk-sync/tests",
    "tap-asana-talk/tests",
    "tap-custompms/tests",
    "target-custompms/tests",
    "target-asana-talk/tests",
)
#: What the suites import: the project's packages (editable: the suites are run from here)
#: and the test tools of requirements-dev.txt (Meltano, the linters and the Asana client are
#: for the main run).
REQUIREMENTS = (
    "-e./custompms",
    "-e./asana-sandbox",
    "-e./talk-sync[postgres,testing]",
    "-e./tap-asana-talk",
    "-e./tap-custompms",
    "-e./target-custompms",
    "-e./target-asana-talk",
    "-e./local-stack",  # tap-asana-talk's tests start the sandbox through its launcher
    "singer-sdk[testing]~=0.54.9",
    "pytest>=9",
    "pytest-timeout>=2.3",
    "pytest-xdist>=3.6",
    "filelock>=3.12",
    "hypothesis>=6.100",
    "jsonschema>=4.20",
    "pyyaml>=6",
    "httpx>=0.27",
)


def supported_versions() -> list[str]:
    """The versions talk-sync's ``requires-python`` admits (every package states the same)."""
    pyproject = (ROOT / "talk-sync" / "pyproject.toml").read_text()
    found = re.search(r'^requires-python = "([^"]+)"$', pyproject, re.MULTILINE)
    if found is None:
        raise SystemExit("talk-sync/pyproject.toml: no requires-python")
    specifier = SpecifierSet(found.group(1))
    return [version for version in KNOWN_VERSIONS if specifier.contains(f"{version}.0")]


def interpreter(version: str) -> str | None:
    """An interpreter of ``version``: pyenv's, else whichever uv finds (never downloads)."""
    for candidate in sorted(Path.home().glob(f".pyenv/versions/{version}.*/bin/python")):
        if candidate.exists():
            return str(candidate)
    found = subprocess.run(
        [UV, "python", "find", "--no-python-downloads", version],
        capture_output=True,
        text=True,
        check=False,
    )
    if found.returncode != 0:
        return None
    return found.stdout.strip() or None


def run_suites(version: str, python: str, workers: str) -> tuple[int, str]:
    """Make the version's virtualenv, install, run the suites: the exit status and output."""
    venv = ROOT / ".venv" / "pythons" / version
    env = {**os.environ, "VIRTUAL_ENV": str(venv)}
    env.pop("PYTHONPATH", None)
    # The suites start plugins as processes: under PYTHONDONTWRITEBYTECODE (CI images) each
    # would compile the SDK again. The first writes the bytecode, the others load it.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if not (venv / "bin" / "python").exists():
        subprocess.run([UV, "venv", "--quiet", "--python", python, str(venv)], check=True)
    subprocess.run(
        [UV, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), *REQUIREMENTS],
        cwd=ROOT,
        check=True,
    )
    command = [str(venv / "bin" / "python"), "-m", "pytest", "-p", "no:cacheprovider", "-q"]
    command += ["-n", workers, "--dist", "loadfile", *SUITES]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    return done.returncode, done.stdout + done.stderr


def main(argv: list[str] | None = None) -> int:
    """Run the suites on each version; exit non-zero if any failed or (CI) is missing."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("versions", nargs="*", help="default: all but this interpreter's")
    parser.add_argument("-n", "--workers", default="2", help="pytest-xdist workers per version")
    args = parser.parse_args(argv)
    main_version = f"{sys.version_info.major}.{sys.version_info.minor}"
    failed = []
    found = {}
    for version in args.versions or supported_versions():
        if version == main_version and not args.versions:
            continue  # `make test` runs them on this one
        python = interpreter(version)
        if python is None:
            print(f"Python {version}: not on this machine, skipped", flush=True)
            if os.environ.get("CI") == "true":
                failed.append(f"{version} (missing)")
            continue
        found[version] = python
        print(f"Python {version} ({python}): the plugin suites", flush=True)

    def timed(version: str) -> tuple[int, str, float]:
        started = time.monotonic()
        status, output = run_suites(version, found[version], args.workers)
        return status, output, time.monotonic() - started

    # All versions at once: much of a suite's time is waiting (servers starting, plugins run
    # as processes, back-offs), which the other versions' tests fill.
    with ThreadPoolExecutor(max(len(found), 1)) as pool:
        results = dict(zip(found, pool.map(timed, found), strict=True))
    for version, (status, output, seconds) in results.items():
        summary = output.strip().splitlines()[-1] if output.strip() else ""
        print(f"Python {version}: {summary} (exit {status}, {seconds:.0f} s)", flush=True)
        if status != 0:
            print(output[-20000:])
            failed.append(version)
    if failed:
        print(f"The plugin suites failed on Python {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

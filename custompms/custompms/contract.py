"""Keep the committed OpenAPI document in step with the server.

python -m custompms.contract --write   # regenerate custompms/openapi.json from the app
python -m custompms.contract --check   # exit 1 when the committed file has drifted
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from custompms.app import create_app
from custompms.openapi import render

COMMITTED = Path(__file__).resolve().parent.parent / "openapi.json"
"""The contract as committed: custompms/openapi.json at the package's project root."""


def current_document() -> str:
    """The contract as the app generates it now, in committed form."""
    return render(create_app().openapi())


def main(argv: list[str] | None = None) -> int:
    """Write or check the committed contract."""
    parser = argparse.ArgumentParser(prog="python -m custompms.contract", description=__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="regenerate the committed file")
    mode.add_argument("--check", action="store_true", help="fail if the committed file drifted")
    parser.add_argument("--path", type=Path, default=COMMITTED, help="default: %(default)s")
    args = parser.parse_args(argv)
    document = current_document()
    if args.write:
        args.path.write_text(document, encoding="utf-8")
        print(f"wrote {args.path}")
        return 0
    committed = args.path.read_text(encoding="utf-8") if args.path.exists() else ""
    if committed != document:
        print(
            f"{args.path} differs from the server's contract; "
            "run `python -m custompms.contract --write` and commit it.",
            file=sys.stderr,
        )
        return 1
    print(f"{args.path} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())

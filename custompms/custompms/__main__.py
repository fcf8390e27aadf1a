"""``python -m custompms`` runs the console script."""

from __future__ import annotations

from custompms.cli import main

main()

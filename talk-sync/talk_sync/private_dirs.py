"""Directories only their owner can read: the link store's and the run reports'.

The link store holds both systems' record values, and the reports name records and values;
next to them, Meltano leaves each plugin's config file (tokens included) under
``.meltano/run/`` when a run is killed. Every directory talk-sync creates is therefore
mode 0700, whatever the umask.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE = 0o700


def make_private_dir(path: str | Path) -> Path:
    """Create ``path`` and its missing parents with mode 0700; returns it.

    Directories that already exist are left as they are (their owner chose their mode).
    """
    target = Path(path)
    missing = []
    current = target
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        directory.mkdir(mode=PRIVATE, exist_ok=True)
        os.chmod(directory, PRIVATE)  # mkdir's mode is masked by the umask
    return target

"""A Meltano system directory of a run's own that shares the project's installed plugins.

Meltano writes each run's config (tokens included) and catalog under
``<sys dir>/run/<plugin>/``, so two runs in one project directory at once (two tenants, or
parallel tests) would pull those files from under each other. Pointing each at its own
directory (``MELTANO_SYS_DIR_ROOT``) separates them; the plugin virtualenvs are linked into
it, so ``meltano install`` runs once for all.
"""

from __future__ import annotations

from pathlib import Path

from talk_sync.private_dirs import make_private_dir

#: The folders of installed plugins under a Meltano system directory.
PLUGIN_KINDS = ("extractors", "loaders", "utilities")


def own_sys_dir(project_root: Path, folder: Path) -> Path:
    """``folder`` made a private Meltano system directory linking ``project_root``'s plugins."""
    shared = project_root / ".meltano"
    own = make_private_dir(folder)  # run configs hold the tokens
    for kind in PLUGIN_KINDS:
        (shared / kind).mkdir(parents=True, exist_ok=True)
        link = own / kind
        if not link.exists():
            link.symlink_to(shared / kind, target_is_directory=True)
    return own

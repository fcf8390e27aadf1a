"""The monorepo's local stack and the end-to-end tools built on it (not published).

- :mod:`local_stack.stack`: both local servers plus the Meltano environment that points the
  plugins at them (:func:`local_stack`, :class:`LocalStack`), for the demo, the benchmarks
  and the end-to-end tests; its names are importable from ``local_stack`` itself.
- :mod:`local_stack.systems`: both systems of a stack, read and edited as their users would.
- :mod:`local_stack.write_gate`: an HTTP proxy that holds a chosen write in its window.
- :mod:`local_stack.tenants_stack`: many tenants (a sandbox and a Custompms each), PostgreSQL
  and the environment Dagster runs orchestrate/ with (tests/test_orchestrate.py,
  bench/tenants.py).
- :mod:`local_stack.crash_campaign`: kill -9 `meltano run sync` inside each write window
  (``python -m local_stack.crash_campaign``, ``make crash-campaign``).
"""

from __future__ import annotations

from local_stack.stack import (
    MELTANO,
    PLUGIN_SOURCES,
    PROJECT_ROOT,
    TAPS,
    LocalStack,
    MeltanoError,
    compile_plugins,
    discovered_catalogs,
    install_plugins,
    local_stack,
    meltano_sys_dir,
    organization_gid,
    stack_env,
)

__all__ = [
    "MELTANO",
    "PLUGIN_SOURCES",
    "PROJECT_ROOT",
    "TAPS",
    "LocalStack",
    "MeltanoError",
    "compile_plugins",
    "discovered_catalogs",
    "install_plugins",
    "local_stack",
    "meltano_sys_dir",
    "organization_gid",
    "stack_env",
]

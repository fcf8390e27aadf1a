"""Tenants as configuration: one sync pair per tenant, in a YAML file, secrets elsewhere.

A tenant is one Asana organization (its token and workspace) kept in sync with one Custompms
tenant (its URL and token), plus any plugin settings of its own (boards, policies)::

    defaults:                       # every tenant's, unless it says otherwise
      schedule: "*/15 * * * *"
      asana_api_url: https://app.asana.com/api/1.0
    tenants:
      acme:
        asana_workspace_gid: "1200000000000001"
        asana_token_env: ACME_ASANA_TOKEN            # the variable's name, never the token
        custompms_api_url: https://acme.custompms.example/api/v1
        custompms_token_env: ACME_CUSTOMPMS_TOKEN
        settings:
          target-custompms: {conflict_policy: custompms_wins, project_board_names: [Roadmap]}

Adding a tenant is adding an entry. Tokens never appear in the file: an entry names the
environment variables that hold them (the orchestrator's secret store fills those), and a
setting whose name says it is a secret is refused.

Each tenant runs the Meltano project's ``sync`` job with its own environment
(:meth:`Deployment.environment`): its URLs and tokens, its state-id suffix (its Meltano
state ids, and the scope of the sync lock), its own schema in the shared link store
(:func:`talk_sync.linkstore.scopes.scoped_url`), its own report directory and Meltano system
directory, and none of the other tenants' secrets.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml
from talk_sync.linkstore import LinkStoreConfigError
from talk_sync.linkstore.scopes import check_scope, scoped_url
from talk_sync.meltano_sys_dir import own_sys_dir
from talk_sync.private_dirs import make_private_dir

#: Where the tenants file is, unless the orchestrator's environment says otherwise.
TENANTS_FILE_ENV = "TALK_SYNC_TENANTS_FILE"
#: The plugins whose settings a tenant may set (as ``<PLUGIN>_<SETTING>`` variables).
PLUGINS = ("tap-asana-talk", "tap-custompms", "target-custompms", "target-asana-talk")
DEFAULT_SCHEDULE = "*/15 * * * *"
ASANA_API_URL = "https://app.asana.com/api/1.0"
_REQUIRED = ("asana_workspace_gid", "asana_token_env", "custompms_api_url", "custompms_token_env")
_SECRET_SETTING = re.compile(r"token|password|secret", re.IGNORECASE)
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")


class TenantConfigError(ValueError):
    """The tenants file, or the environment a tenant needs, is not usable (says why)."""


@dataclass(frozen=True)
class Tenant:
    """One sync pair: where its two systems are, the names of its secrets, its settings."""

    name: str
    asana_workspace_gid: str
    asana_token_env: str
    custompms_api_url: str
    custompms_token_env: str
    asana_api_url: str = ASANA_API_URL
    schedule: str = DEFAULT_SCHEDULE
    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def secret_names(self) -> tuple[str, str]:
        return self.asana_token_env, self.custompms_token_env

    def secrets(self, environ: Mapping[str, str]) -> dict[str, str]:
        """Its two tokens, from the environment; a clear error naming what is missing."""
        missing = [name for name in self.secret_names if not environ.get(name)]
        if missing:
            raise TenantConfigError(
                f"tenant {self.name}: the environment variable(s) {', '.join(missing)} "
                "holding its token(s) are not set"
            )
        return {
            "ASANA_ACCESS_TOKEN": environ[self.asana_token_env],
            "CUSTOMPMS_API_TOKEN": environ[self.custompms_token_env],
        }

    def setting_variables(self) -> dict[str, str]:
        """Its plugin settings as the variables Meltano reads them from."""
        variables = {}
        for plugin, settings in self.settings.items():
            for setting, value in settings.items():
                name = f"{plugin}_{setting}".upper().replace("-", "_")
                variables[name] = value if isinstance(value, str) else json.dumps(value)
        return variables


def _tenant(name: str, entry: Mapping[str, Any], defaults: Mapping[str, Any]) -> Tenant:
    where = f"tenant {name}"
    check_scope(name)
    values = {**defaults, **entry}
    # What an entry may say: Tenant's fields but its name, which is the entry's key.
    unknown = set(values) - ({known.name for known in fields(Tenant)} - {"name"})
    if unknown:
        raise TenantConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    missing = [key for key in _REQUIRED if not values.get(key)]
    if missing:
        raise TenantConfigError(f"{where}: missing {', '.join(missing)}")
    for key in ("asana_token_env", "custompms_token_env"):
        if not _ENV_NAME.fullmatch(str(values[key])):
            raise TenantConfigError(
                f"{where}: {key} must name an environment variable (e.g. ACME_ASANA_TOKEN), "
                "not hold the token itself"
            )
    settings = values.get("settings") or {}
    for plugin, plugin_settings in settings.items():
        if plugin not in PLUGINS:
            raise TenantConfigError(f"{where}: settings for unknown plugin {plugin!r}")
        for setting in plugin_settings or {}:
            if _SECRET_SETTING.search(setting):
                raise TenantConfigError(
                    f"{where}: {plugin} setting {setting!r} is a secret; secrets come from "
                    "the environment (asana_token_env, custompms_token_env), never this file"
                )
    return Tenant(
        name=name,
        asana_workspace_gid=str(values["asana_workspace_gid"]),
        asana_token_env=str(values["asana_token_env"]),
        custompms_api_url=str(values["custompms_api_url"]),
        custompms_token_env=str(values["custompms_token_env"]),
        asana_api_url=str(values.get("asana_api_url") or ASANA_API_URL),
        schedule=str(values.get("schedule") or DEFAULT_SCHEDULE),
        settings={plugin: dict(s or {}) for plugin, s in settings.items()},
    )


def load_tenants(path: str | Path) -> list[Tenant]:
    """The tenants of a tenants file, in file order; :class:`TenantConfigError` if unusable."""
    try:
        document = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise TenantConfigError(f"cannot read the tenants file {path}: {error}") from None
    entries = document.get("tenants") or {}
    if not isinstance(entries, dict):
        raise TenantConfigError(f"{path}: 'tenants' must map each tenant's name to its settings")
    defaults = document.get("defaults") or {}
    try:
        return [_tenant(str(name), entry or {}, defaults) for name, entry in entries.items()]
    except LinkStoreConfigError as error:
        raise TenantConfigError(f"{path}: {error}") from None


def _project_root() -> Path:
    """The Meltano project this package sits in (the folder of meltano.yml), else the cwd."""
    for folder in (Path.cwd(), *Path(__file__).resolve().parents):
        if (folder / "meltano.yml").is_file():
            return folder
    return Path.cwd()


@dataclass(frozen=True)
class Deployment:
    """What every tenant shares: the Meltano project, the shared stores, where runs work.

    From the orchestrator's environment (:meth:`from_environment`):

    - ``TALK_SYNC_LINK_STORE_URL``: the shared link store (PostgreSQL in production; each
      tenant gets its own schema in it);
    - ``MELTANO_DATABASE_URI``: Meltano's system database, which is also its state backend
      (PostgreSQL in production), passed through unchanged;
    - ``TALK_SYNC_WORK_DIR``: where each tenant's reports and Meltano system directory live;
    - ``TALK_SYNC_PROJECT_ROOT``, ``TALK_SYNC_MELTANO`` and ``TALK_SYNC_MELTANO_ENVIRONMENT``:
      the Meltano project, the ``meltano`` executable and the environment (``prod``).
    """

    link_store_url: str
    work_dir: Path
    project_root: Path = field(default_factory=_project_root)
    meltano: str = "meltano"
    meltano_environment: str = "prod"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Deployment:
        link_store = environ.get("TALK_SYNC_LINK_STORE_URL")
        if not link_store:
            raise TenantConfigError(
                "TALK_SYNC_LINK_STORE_URL is not set: the link store the tenants share "
                "(postgresql+psycopg://user@host/talk_sync in production)"
            )
        project = Path(environ.get("TALK_SYNC_PROJECT_ROOT") or _project_root())
        return cls(
            link_store_url=link_store,
            work_dir=Path(environ.get("TALK_SYNC_WORK_DIR") or project / ".meltano" / "tenants"),
            project_root=project,
            meltano=environ.get("TALK_SYNC_MELTANO") or shutil.which("meltano") or "meltano",
            meltano_environment=environ.get("TALK_SYNC_MELTANO_ENVIRONMENT") or "prod",
        )

    def report_dir(self, tenant: Tenant) -> Path:
        return self.work_dir / tenant.name / "reports"

    def sys_dir(self, tenant: Tenant) -> Path:
        """The tenant's own Meltano system directory: two tenants running at once from one
        project must not share run configs (:mod:`talk_sync.meltano_sys_dir`)."""
        return own_sys_dir(self.project_root, self.work_dir / tenant.name / "meltano-sys")

    def environment(
        self, tenant: Tenant, tenants: list[Tenant], environ: Mapping[str, str] = os.environ
    ) -> dict[str, str]:
        """The process environment of the tenant's ``meltano run``.

        The orchestrator's own environment (plugin settings there apply to every tenant)
        minus every tenant's secrets, plus this tenant's URLs, tokens, settings and scopes.
        """
        foreign = {name for other in tenants for name in other.secret_names}
        env = {key: value for key, value in environ.items() if key not in foreign}
        env.update(tenant.secrets(environ))
        env.update(tenant.setting_variables())
        env.update(
            {
                "MELTANO_ENVIRONMENT": self.meltano_environment,
                "MELTANO_RUN_STATE_ID_SUFFIX": tenant.name,
                "MELTANO_SYS_DIR_ROOT": str(self.sys_dir(tenant)),
                "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
                "ASANA_API_URL": tenant.asana_api_url,
                "ASANA_WORKSPACE_GID": tenant.asana_workspace_gid,
                "CUSTOMPMS_API_URL": tenant.custompms_api_url,
                "TALK_SYNC_LINK_STORE_URL": scoped_url(self.link_store_url, tenant.name),
                "TALK_SYNC_REPORT_DIR": str(make_private_dir(self.report_dir(tenant))),
            }
        )
        return env

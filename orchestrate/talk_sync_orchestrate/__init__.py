"""Many Asana <-> Custompms sync pairs (tenants) on Dagster; see orchestrate/README.md."""

# Two commands do everything on a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYPROJECTS := $(wildcard */pyproject.toml)

.PHONY: install test lint demo bench crash-campaign clean openapi qa-checklist dist hub test-pythons

$(STAMP): requirements-dev.txt $(PYPROJECTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

# Meltano leaves plugin configs (tokens included) under .meltano/run/ when a run is killed,
# and the link store and the reports live under .meltano/talk-sync/: owner only.
install: $(STAMP)
	@mkdir -p .meltano && chmod 700 .meltano

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy talk-sync/talk_sync tap-asana-talk/tap_asana_talk tap-custompms/tap_custompms \
		target-custompms/target_custompms target-asana-talk/target_asana_talk \
		orchestrate/talk_sync_orchestrate

test: install lint
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest -n 2 --dist loadfile --durations=25

# The plugin suites (not the end-to-end tests/) on each other Python version requires-python
# states, in uv virtualenvs under .venv/pythons/ (scripts/test_pythons.py).
test-pythons: install
	$(BIN)/python scripts/test_pythons.py

demo: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python scripts/demo.py

bench: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/custompms_throughput.py
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/tap_asana.py
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/idle_sync.py
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/target_asana_quota.py
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/sync_engine.py
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/tenants.py

# The full crash campaign: kill -9 `meltano run sync` inside every write window of both
# directions, 24 trials (make test runs a fast subset). TRIALS=n, CAMPAIGN_ARGS=--postgres.
TRIALS ?= 24
crash-campaign: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m local_stack.crash_campaign --trials $(TRIALS) $(CAMPAIGN_ARGS)

# Regenerate the committed Custompms contract, and tap-custompms's vendored copy of it
# (its tests fail when the two drift apart).
openapi: install
	$(BIN)/python -m custompms.contract --write
	cp custompms/openapi.json tap-custompms/tap_custompms/schemas/openapi.json

# Regenerate docs/qa-checklist.rst from the flow descriptions (talk-sync/talk_sync/flows.py);
# talk-sync's tests fail when the committed file differs.
qa-checklist: install
	$(BIN)/python -m talk_sync.qa_checklist --write

# Every package as a versioned wheel and sdist in dist/ (gitignored): the shared core, the four
# plugins, and the servers and local stack the tests run. Release steps: README.md, "Releasing".
PACKAGES := talk-sync tap-asana-talk tap-custompms target-custompms target-asana-talk \
	custompms asana-sandbox local-stack orchestrate
dist: install
	rm -rf dist
	for package in $(PACKAGES); do $(BIN)/uv build --quiet --out-dir dist $$package || exit 1; done

# The Meltano Hub definitions (hub/<type>/<name>/<variant>.yml) and meltano.yml's plugin
# settings, generated from each plugin's --about; tests/test_plugin_definitions.py fails when
# they drift.
hub: install
	$(BIN)/python scripts/hub_definitions.py --write

clean:
	rm -rf $(VENV) .meltano .demo .crash-campaign dist

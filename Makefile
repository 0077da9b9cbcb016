# The two commands: `make render STACK=dev` (offline, no credentials) and `make test`.
# Both bootstrap .venv from the pinned requirements on first use: `make render` installs only what the
# render needs (the program's requirements.txt and the policy pack's); `make test` adds the test tools.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RENDER_REQS := requirements.txt policies/requirements.txt
TEST_REQS   := $(RENDER_REQS) requirements-dev.txt app/requirements.txt
RENDER_STAMP := $(VENV)/.render-$(shell cat $(RENDER_REQS) | sha256sum | cut -c1-16)
STAMP        := $(VENV)/.test-$(shell cat $(TEST_REQS) | sha256sum | cut -c1-16)
STACK  ?= dev
# Debian packages the real-tool tests need (Prometheus 2.42, promtool, Alertmanager, amtool; gpg for
# the PGP-encrypted Vault init test).
APT_PACKAGES := prometheus prometheus-alertmanager gnupg
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# mypy covers the program, the tools, the policy rules, the app and the tests.
TYPED := __main__.py components tools policies app/orders_api tests bench
# The program (components), the tools and the policy pack are held to mypy --strict (#21).
STRICT := components tools policies
# "==> step" then "    done in Ns": the long bootstrap steps say what they do and how long they took.
STEP = @echo "==> $(1)"; started=$$(date +%s);
DONE = echo "    done in $$(( $$(date +%s) - started ))s"

.PHONY: render test lint typecheck system-deps venv render-venv clean config-schema bench bytecode vendor-check

venv: $(STAMP)
render-venv: $(RENDER_STAMP)

$(RENDER_STAMP): $(RENDER_REQS)
	$(call STEP,installing the render's Python packages into $(VENV) (first run only)) \
	  { test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); } && \
	  $(BIN)/python -m pip install --quiet --disable-pip-version-check $(addprefix -r ,$(RENDER_REQS)) && \
	  rm -f $(VENV)/.render-* && touch $@ && $(DONE)

$(STAMP): $(TEST_REQS) $(RENDER_STAMP)
	$(call STEP,installing the test tools into $(VENV) (first run only)) \
	  $(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt && \
	  rm -f $(VENV)/.test-* && touch $@ && $(DONE)

# Byte-compile the program's own modules (pip does the same for site-packages): with
# PYTHONDONTWRITEBYTECODE set, as on some CI machines, every render would otherwise compile ~60 modules
# from source. Python checks each .pyc against its source, so a stale one is never used.
bytecode: $(RENDER_STAMP)
	$(BIN)/python -m compileall -q components tools policies

# GNU make exits 2 whenever a recipe fails, so the tool's own exit status (README: "Exit status") is
# printed here; scripts that branch on it call `python -m tools.render` directly.
render: $(RENDER_STAMP) bytecode
	@$(BIN)/python -m tools.render --stack $(STACK) $(RENDER_ARGS) || { code=$$?; \
	  echo "make: python -m tools.render exited $$code (see README, Exit status)" >&2; exit $$code; }

vendor-check: $(RENDER_STAMP)
	$(BIN)/python -m tools.vendor check

system-deps:
	@missing=""; for p in promtool amtool prometheus prometheus-alertmanager gpg; do \
	  command -v $$p >/dev/null 2>&1 || missing=1; done; \
	if [ -n "$$missing" ]; then \
	  echo "==> installing Debian packages: $(APT_PACKAGES)"; started=$$(date +%s); \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null && \
	  $(DONE); \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy $(wildcard $(TYPED))
	$(BIN)/mypy --strict --no-warn-unused-ignores --follow-imports=silent $(STRICT)

config-schema: $(STAMP)
	$(BIN)/python -m tools.config_schema

test: $(STAMP) system-deps lint typecheck vendor-check
	$(BIN)/python -m tools.config_schema --check
	$(BIN)/python -m pytest -m "not realtime"
	$(BIN)/python -m pytest -m realtime -n 0

bench: $(STAMP) bytecode
	$(BIN)/python bench/render.py
	$(BIN)/python bench/app_overhead.py

clean:
	rm -rf dist .pytest_cache .mypy_cache .ruff_cache
	find components tools policies -name __pycache__ -type d -prune -exec rm -rf {} +

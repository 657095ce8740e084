# integrations-hub developer commands. The local stack is driven by template.yaml
# (scripts/localstack.py); Python tools live in the project-local .venv.
#
#   make dev                        run the hub locally (moto + cargo lambda watch on :9000)
#   make test                       template checks + all tests against a fresh emulator
#   make reliability                the fault-injection suite, its matrix into docs/reliability.md
#   make fuzz-api                   schemathesis over /api/openapi.json on a stack of its own
#   make token USER=alice ROLE=admin   a JWT the local stack accepts
#   make bench                      benchmarks, side by side with LiteLLM and a Python peer
#   make lint / make fmt            clippy + cfn-lint / rustfmt
#   make package                   cargo lambda build --release --arm64 of every function, zip sizes
#   make validate                   sam validate --lint (needs the SAM CLI)
#   make sam-build / make deploy    build and deploy with the SAM CLI (not needed locally)

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

ROLE      ?= user
TTL       ?= 3600
MOTO_PORT ?= 4566

.PHONY: help venv dev test fuzz-api reliability bench token lint fmt fmt-check package validate sam-build deploy clean-local

help:
	@sed -n '3,14p' Makefile | sed 's/^# \{0,1\}//'

venv: $(STAMP)

$(STAMP): requirements-dev.txt scripts/venv.sh
	@scripts/venv.sh

dev: venv
	@scripts/dev.sh

test: venv
	@scripts/test.sh

# Schemathesis over the OpenAPI document against a local stack of its own (FUZZ_MOTO_PORT,
# FUZZ_SMTP_PORT, FUZZ_INVOKE_PORT); `make test` runs the same on the walkthrough's stack.
# ARGS: extra `schemathesis run` options, e.g. ARGS="--include-path-regex sms -n 5".
fuzz-api: venv
	@scripts/fuzz-api.sh $(if $(ARGS),-- $(ARGS))

# The fault-injection suite (tests/faults) on a fresh emulator, then the matrix of
# docs/reliability.md regenerated from the rows it wrote. ARGS: a test-name filter.
reliability: venv
	@scripts/reliability.sh $(ARGS)

# Benchmarks, round trips per route, the cold start and AI overhead side by side with a
# Python peer and LiteLLM (bench-only venv in .local/bench-venv), binary sizes; one table at
# the end (docs/performance.md).
bench: venv
	@scripts/bench.sh

# Reads the JWT secret from the running `make dev` emulator (fixed local value otherwise).
token: venv
	@$(PY) scripts/localstack.py token --user "$(USER)" --role "$(ROLE)" --ttl "$(TTL)" \
		--endpoint "http://127.0.0.1:$(MOTO_PORT)"

lint: venv
	cargo clippy --workspace --all-targets -- -D warnings
	cfn-lint template.yaml

fmt:
	cargo fmt --all

fmt-check:
	cargo fmt --all -- --check

# What `sam build` uploads, built the same way (release, arm64, cross-compiled with zig),
# zipped, with each bootstrap.zip's size (the goal: every function under 10 MB). Slow: not
# part of `make test`. Figures in docs/deploying.md.
package: venv
	@scripts/package.sh

# The SAM CLI's own template check (cfn-lint runs in `make test` and `make lint`).
validate: venv
	SAM_CLI_TELEMETRY=0 sam validate --lint --region us-east-1

# SAM's rust-cargolambda build copies target/lambda/<bin>/bootstrap from the
# workspace, so it must not see a relocated CARGO_TARGET_DIR.
sam-build: venv
	env -u CARGO_TARGET_DIR sam build

deploy: sam-build
	sam deploy

clean-local:
	rm -rf .local

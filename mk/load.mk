# make load: the webhook under load over loopback against moto's SQS server (README "Load").
.PHONY: load

LOAD_SECONDS ?= 60
LOAD_CLIENTS ?= 16
# An optimised build that links in seconds (the same profile as the bench's harness).
LOAD_PROFILE := --profile bench-harness \
	--config 'profile.bench-harness.inherits="release"' \
	--config 'profile.bench-harness.lto=false' \
	--config 'profile.bench-harness.codegen-units=16' \
	--config 'profile.bench-harness.strip=false'

## Drives the webhook for LOAD_SECONDS with LOAD_CLIENTS concurrent clients, drains the
## queue, and fails unless every 200 left exactly one queued message.
load: deps ## Drive the webhook over loopback for LOAD_SECONDS against SQS; every 200 queued once.
	LOAD_SECONDS=$(LOAD_SECONDS) LOAD_CLIENTS=$(LOAD_CLIENTS) \
	  $(CARGO) run --locked $(LOAD_PROFILE) -p glase-load

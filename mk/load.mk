# make load: the webhook under load over loopback against moto's SQS server (README "Load").
.PHONY: load

LOAD_SECONDS ?= 60
LOAD_CLIENTS ?= 16
# An optimised build that links in seconds: the bench harness's profile (Cargo.toml).
LOAD_PROFILE := --profile bench-harness

## Drives the webhook for LOAD_SECONDS with LOAD_CLIENTS concurrent clients, drains the
## queue, and fails unless every 200 left exactly one queued message.
load: deps ## Drive the webhook over loopback for LOAD_SECONDS against SQS; every 200 queued once.
	LOAD_SECONDS=$(LOAD_SECONDS) LOAD_CLIENTS=$(LOAD_CLIENTS) \
	  $(CARGO) run --locked $(LOAD_PROFILE) -p glase-load

# make sim: glase-sim alone, on 127.0.0.1:$(SIM_PORT), notifying $(SIM_NOTIFY_URL) as issuer demo.
# Extra flags go in SIM_ARGS, e.g. make sim SIM_ARGS="--time-scale 0.001 --error-rate 0.2"
# (see docs/glase-sim.md).
.PHONY: sim

SIM_PORT ?= 4000
SIM_NOTIFY_URL ?= http://127.0.0.1:3000/notifications
SIM_ARGS ?=

sim: ## glase-sim alone on SIM_PORT, notifying SIM_NOTIFY_URL.
	$(CARGO) run -p glase-sim -- serve --port $(SIM_PORT) --issuer demo:demo-secret:$(SIM_NOTIFY_URL) $(SIM_ARGS)

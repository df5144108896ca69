# make dev: the whole pipeline locally (see README.md, "The two commands").
.PHONY: dev demo

dev: deps
	$(CARGO) build -p glase-local --bin glase-dev
	exec "$${CARGO_TARGET_DIR:-target}/debug/glase-dev" up

demo:
	$(CARGO) run -q -p glase-local --bin glase-dev -- demo

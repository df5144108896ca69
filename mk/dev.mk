# make dev: the whole pipeline locally (see README.md, "The two commands").
.PHONY: dev demo

# What `make dev` prints for pointing glase-invoices at the local services.
DEV_AWS_ENV = AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$(or $(DYNAMODB_PORT),8000) \
	AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local \
	TABLE_NAME=$(or $(TABLE_NAME),glase-invoices)

dev: deps ## The whole pipeline locally: DynamoDB Local, SQS, glase-sim, webhook, worker (Ctrl-C stops).
	$(CARGO) build -p glase-local --bin glase-dev
	exec "$${CARGO_TARGET_DIR:-target}/debug/glase-dev" up

## Pays invoices in glase-sim beside a running `make dev`, then lists today's with glase-invoices.
demo: ## Pay invoices in glase-sim beside a running make dev, then list them with glase-invoices.
	$(CARGO) run -p glase-local --bin glase-dev -- demo
	@echo
	@echo '$$ glase-invoices list'
	@$(DEV_AWS_ENV) $(CARGO) run -p glase-invoices -- list --format table

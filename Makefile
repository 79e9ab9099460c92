# Generators are pinned: protoc-gen-go and protoc-gen-connect-go as tool
# lines in go.mod, buf in api/buf.go.mod (kept apart: it pulls ~90 modules),
# protoc-gen-es, TypeScript and esbuild in clients/web/package-lock.json.
BUF := go tool -modfile=api/buf.go.mod buf
WEB := clients/web
# What generate makes, all committed: CI fails when any of it is stale.
# schema.gen.ts is the app's copy of schema/'s rules (schema/internal/tsgen);
# it lives outside src/gen, which buf empties on every generate.
GENERATED := api/gen $(WEB)/src/gen $(WEB)/src/rules/schema.gen.ts $(WEB)/dist

.PHONY: generate web lint test check-generated demo

# npm ci again whenever the lock file is newer than what it installed
# (npm writes node_modules/.package-lock.json on every install).
$(WEB)/node_modules/.package-lock.json: $(WEB)/package-lock.json
	npm ci --prefix $(WEB) --no-audit --no-fund

# Go and TypeScript from the protos, the rules from schema/, then the
# console's bundle from them.
generate: $(WEB)/node_modules/.package-lock.json
	$(BUF) lint
	$(BUF) generate
	go run ./schema/internal/tsgen $(WEB)/src/rules/schema.gen.ts
	npm run --prefix $(WEB) --silent build

# The console's bundle alone (clients/web/dist, embedded by package web).
web: $(WEB)/node_modules/.package-lock.json
	npm run --prefix $(WEB) --silent build

# Fails when the committed generated code differs from what generate makes.
check-generated: generate
	git diff --exit-code -- $(GENERATED) || (echo "generated code is stale: run make generate and commit" >&2; exit 1)
	test -z "$$(git status --porcelain -- $(GENERATED))" || (git status --porcelain -- $(GENERATED); echo "untracked generated files: run make generate and commit" >&2; exit 1)

test:
	go test -race ./...

demo:
	go run ./cmd/villagesync demo

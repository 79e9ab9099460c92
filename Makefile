# Generators are pinned: protoc-gen-go and protoc-gen-connect-go as tool
# lines in go.mod, buf in api/buf.go.mod (kept apart: it pulls ~90 modules).
BUF := go tool -modfile=api/buf.go.mod buf

.PHONY: generate lint test check-generated demo

generate:
	$(BUF) lint
	$(BUF) generate

# Fails when the committed generated code differs from what generate makes.
check-generated: generate
	git diff --exit-code -- api/gen || (echo "generated code is stale: run make generate and commit" >&2; exit 1)
	test -z "$$(git status --porcelain -- api/gen)" || (git status --porcelain -- api/gen; echo "untracked generated files: run make generate and commit" >&2; exit 1)

test:
	go test -race ./...

demo:
	go run ./cmd/villagesync demo

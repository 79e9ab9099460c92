package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The output must be the same bytes every run (make check-generated diffs
// it) and the same as the committed file.
func TestGenerateIsStableAndCommitted(t *testing.T) {
	a, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		b, err := Generate()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Fatal("two runs of Generate differ: a map is written unsorted")
		}
	}
	committed, err := os.ReadFile(filepath.Join("..", "..", "..", "clients", "web", "src", "rules", "schema.gen.ts"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, committed) {
		t.Fatal("clients/web/src/rules/schema.gen.ts is stale: run make generate")
	}
	for _, want := range []string{`"children_present"`, `"is required (%s不能为空)": "%s不能为空"`, `"fill": "days_after"`} {
		if !strings.Contains(string(a), want) {
			t.Errorf("the output lacks %s", want)
		}
	}
}

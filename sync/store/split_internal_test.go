package store

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The store's decisions (merge, authorisation, review, collection,
// access) live in files that know no SQL; the statements they need are
// methods of txn and view, implemented for SQLite in the *_sqlite.go
// files. A second backend adds its own implementation instead of forking
// the decisions. This test keeps the split: a file that is not *_sqlite.go
// (tests aside) may not import the SQL packages, reach the SQLite handles
// (the db and stmts fields) or run statements itself.
func TestDecisionsKnowNoSQL(t *testing.T) {
	forbiddenImports := []string{"database/sql", "database/sql/driver", "github.com/mattn/go-sqlite3",
		"github.com/futian-xiaomo/villagesync/sync/sqlite"}
	forbiddenFields := []string{"db", "stmts"}
	forbiddenCalls := []string{"ExecContext", "QueryContext", "QueryRowContext", "BeginTx", "PrepareContext",
		"StmtContext"}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || strings.HasSuffix(f, "_sqlite.go") || strings.HasSuffix(f, "_sql.go") {
			continue
		}
		checked++
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		fset := token.NewFileSet()
		file, err := parser.ParseFile(fset, f, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range file.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); slices.Contains(forbiddenImports, p) {
				t.Errorf("%s imports %s: move the statements to a _sql.go file", fset.Position(imp.Pos()), p)
			}
		}
		ast.Inspect(file, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if slices.Contains(forbiddenFields, sel.Sel.Name) || slices.Contains(forbiddenCalls, sel.Sel.Name) {
				t.Errorf("%s uses .%s: decisions reach the database through txn or view", fset.Position(sel.Pos()), sel.Sel.Name)
			}
			return true
		})
	}
	if checked == 0 {
		t.Fatal("no decision file checked")
	}
}

// stillMixed lists the files that still mix decisions and statements;
// each is split in turn, and the list ends empty.
var stillMixed = []string{}

package schema

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// maker is a function that makes a translatable message: the positions
// of its field argument (-1: none) and of its format.
type maker struct{ field, format int }

// roots are the constructors every message goes through; a function that
// passes its own format parameter on to one (store's problem, rpc's
// refuse, a local deny) is found and checked like them.
var roots = map[string]maker{"Problemf": {1, 2}, "Messagef": {-1, 0}}

type goFile struct {
	dir  string
	fset *token.FileSet
	file *ast.File
}

// moduleFiles parses the module's Go files, tests and generated code aside.
func moduleFiles(t *testing.T) []goFile {
	t.Helper()
	var out []goFile
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "testdata", "gen":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, src, 0)
		if err != nil {
			return err
		}
		out = append(out, goFile{dir: filepath.Dir(path), fset: fset, file: f})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 50 {
		t.Fatalf("found only %d Go files from ..; is the test running in schema/?", len(out))
	}
	return out
}

// callName is the name a call is made by: f(...) or x.f(...).
func callName(c *ast.CallExpr) string {
	switch fn := c.Fun.(type) {
	case *ast.Ident:
		return fn.Name
	case *ast.SelectorExpr:
		return fn.Sel.Name
	}
	return ""
}

type funcKey struct{ dir, name string }

type funcInfo struct {
	params []string
	body   ast.Node
}

func paramNames(ft *ast.FuncType) []string {
	var out []string
	for _, f := range ft.Params.List {
		if len(f.Names) == 0 {
			out = append(out, "_")
		}
		for _, n := range f.Names {
			out = append(out, n.Name)
		}
	}
	return out
}

// makers finds the roots and every function that passes its format on to
// a maker, by package directory and name.
func makers(files []goFile) func(dir string, c *ast.CallExpr) (maker, bool) {
	funcs := map[funcKey]funcInfo{}
	for _, f := range files {
		ast.Inspect(f.file, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncDecl:
				if n.Body != nil {
					funcs[funcKey{f.dir, n.Name.Name}] = funcInfo{paramNames(n.Type), n.Body}
				}
			case *ast.AssignStmt:
				for i, rhs := range n.Rhs {
					if lit, ok := rhs.(*ast.FuncLit); ok && i < len(n.Lhs) {
						if id, ok := n.Lhs[i].(*ast.Ident); ok {
							funcs[funcKey{f.dir, id.Name}] = funcInfo{paramNames(lit.Type), lit.Body}
						}
					}
				}
			}
			return true
		})
	}
	found := map[funcKey]maker{}
	lookup := func(dir string, c *ast.CallExpr) (maker, bool) {
		name := callName(c)
		if m, ok := roots[name]; ok {
			return m, true
		}
		m, ok := found[funcKey{dir, name}]
		return m, ok
	}
	for changed := true; changed; {
		changed = false
		for k, fi := range funcs {
			if _, done := found[k]; done {
				continue
			}
			if _, root := roots[k.name]; root {
				continue
			}
			format := slices.Index(fi.params, "format")
			if format < 0 {
				continue
			}
			ast.Inspect(fi.body, func(n ast.Node) bool {
				c, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				m, ok := lookup(k.dir, c)
				if !ok || m.format >= len(c.Args) {
					return true
				}
				if id, ok := c.Args[m.format].(*ast.Ident); !ok || id.Name != "format" {
					return true
				}
				w := maker{field: -1, format: format}
				if m.field >= 0 && m.field < len(c.Args) {
					if id, ok := c.Args[m.field].(*ast.Ident); ok {
						w.field = slices.Index(fi.params, id.Name)
					}
				}
				found[k] = w
				changed = true
				return false
			})
		}
	}
	return lookup
}

// schemaConsts are the string constants package schema declares: a
// format may be one (schema.UnknownFieldFormat), shared with check.ts.
var schemaConsts = map[string]string{}

// collectConsts fills schemaConsts from schema's own files.
func collectConsts(files []goFile) {
	for _, f := range files {
		if f.file.Name.Name != "schema" || filepath.Base(f.dir) != "schema" {
			continue
		}
		for _, d := range f.file.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, sp := range g.Specs {
				vs := sp.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i < len(vs.Values) {
						if s, ok := constString(vs.Values[i]); ok {
							schemaConsts[n.Name] = s
						}
					}
				}
			}
		}
	}
}

// constString is the value of a string literal, of one of schema's
// string constants, or of a sum of them.
func constString(e ast.Expr) (string, bool) {
	switch e := e.(type) {
	case *ast.Ident:
		s, ok := schemaConsts[e.Name]
		return s, ok
	case *ast.SelectorExpr:
		if x, ok := e.X.(*ast.Ident); ok && x.Name == "schema" {
			s, ok := schemaConsts[e.Sel.Name]
			return s, ok
		}
		return "", false
	case *ast.BasicLit:
		if e.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(e.Value)
		return s, err == nil
	case *ast.ParenExpr:
		return constString(e.X)
	case *ast.BinaryExpr:
		if e.Op != token.ADD {
			return "", false
		}
		a, ok1 := constString(e.X)
		b, ok2 := constString(e.Y)
		return a + b, ok1 && ok2
	}
	return "", false
}

// A message made anywhere in the module can be said in Chinese: every
// format passed to Problemf, Messagef or a helper that passes its format
// on is a literal with an entry in the catalogue, every field named by a
// literal has a Chinese name, every entry is still used, and no problem
// is made by hand from a format (it could not be translated).
func TestEveryMessageHasChinese(t *testing.T) {
	files := moduleFiles(t)
	collectConsts(files)
	if schemaConsts["RequiredFormat"] == "" {
		t.Fatal("schema's constants were not found; the scan is broken")
	}
	lookup := makers(files)
	used := map[string]bool{}
	calls := 0
	for _, f := range files {
		ast.Inspect(f.file, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				m, ok := lookup(f.dir, n)
				if !ok || m.format >= len(n.Args) {
					return true
				}
				pos := f.fset.Position(n.Pos())
				if m.field >= 0 && m.field < len(n.Args) {
					if field, ok := constString(n.Args[m.field]); ok && field != "" && FieldName(ZH, field) == field {
						t.Errorf("%s: field %q has no Chinese name in zhFields (messages_zh.go)", pos, field)
					}
				}
				arg := n.Args[m.format]
				if id, ok := arg.(*ast.Ident); ok && id.Name == "format" {
					return true // a helper passing its own format on
				}
				calls++
				format, ok := constString(arg)
				if !ok {
					t.Errorf("%s: %s is given a format that is not a literal: it cannot be translated", pos, callName(n))
					return true
				}
				used[format] = true
				if _, ok := zhFormats[format]; !ok {
					t.Errorf("%s: format %q has no Chinese in zhFormats (messages_zh.go)", pos, format)
				}
			case *ast.CompositeLit:
				if sel, ok := n.Type.(*ast.SelectorExpr); !ok || sel.Sel.Name != "Problem" {
					if id, ok := n.Type.(*ast.Ident); !ok || id.Name != "Problem" {
						return true
					}
				}
				for _, e := range n.Elts {
					kv, ok := e.(*ast.KeyValueExpr)
					if !ok {
						continue
					}
					if k, ok := kv.Key.(*ast.Ident); !ok || k.Name != "Msg" {
						continue
					}
					_, literal := constString(kv.Value)
					sprintf := false
					if c, ok := kv.Value.(*ast.CallExpr); ok && callName(c) == "Sprintf" && len(c.Args) > 0 {
						// Problemf itself formats its format parameter.
						id, ok := c.Args[0].(*ast.Ident)
						sprintf = !ok || id.Name != "format"
					}
					if literal || sprintf {
						t.Errorf("%s: a Problem made by hand from a format; use record.Problemf so it can be translated",
							f.fset.Position(n.Pos()))
					}
				}
			}
			return true
		})
	}
	if calls < 40 {
		t.Fatalf("only %d messages found; the scan is broken", calls)
	}
	for format := range zhFormats {
		if !used[format] {
			t.Errorf("zhFormats has %q, which no message uses any more", format)
		}
	}
}

var verbRE = regexp.MustCompile(`%[-+# 0]*(\[\d+\])?(\*|\d+)?(\.(\*|\d+)?)?[a-zA-Z%]`)

// A translation keeps the English verbs in the same order: fmt fills them
// from the same arguments.
func TestTranslationsKeepTheVerbs(t *testing.T) {
	for en, zh := range zhFormats {
		if a, b := verbRE.FindAllString(en, -1), verbRE.FindAllString(zh, -1); !slices.Equal(a, b) {
			t.Errorf("%q -> %q: verbs %v, want %v", en, zh, b, a)
		}
		if strings.TrimSpace(zh) == "" {
			t.Errorf("%q has an empty translation", en)
		}
	}
}

func TestSay(t *testing.T) {
	const format = "%q is not a known village (known: %s)"
	if got, want := Say(EN, format, "南乡村", "南香村"), `"南乡村" is not a known village (known: 南香村)`; got != want {
		t.Errorf("en: %s, want %s", got, want)
	}
	zh := Say(ZH, format, "南乡村", "南香村")
	if !strings.Contains(zh, `"南乡村"`) || !strings.Contains(zh, "南香村") || zh == Say(EN, format, "南乡村", "南香村") {
		t.Errorf("zh: %s", zh)
	}
	// An argument that is a message is said in the same language.
	name := CheckName("a\x1bb")
	if got := Say(ZH, "%v", name); !strings.Contains(got, "控制字符") || strings.Contains(got, "terminal") {
		t.Errorf("a message inside a message: %s", got)
	}
	if got := Say(EN, "%v", name); got != name.Error() {
		t.Errorf("en: %s, want %s", got, name.Error())
	}
	if got := Say(ZH, "%s", Words{"session", "课堂记录"}); got != "课堂记录" {
		t.Errorf("words: %s", got)
	}
	for field, want := range map[string]string{
		"user": zhFields["user"], "tutoring_sessions.children_present": "夜间7点钟课堂.出席儿童数",
		"report.from_month": zhFields["report"] + "." + zhFields["from_month"], "no_such": "no_such",
	} {
		if got := FieldName(ZH, field); got != want {
			t.Errorf("FieldName(zh, %s) = %s, want %s", field, got, want)
		}
		if got := FieldName(EN, field); got != field {
			t.Errorf("FieldName(en, %s) = %s", field, got)
		}
	}
}

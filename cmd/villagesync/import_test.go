package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A file with bad rows names each of them by line and writes nothing;
// fixed, it imports, and the next sync takes the rows to the server.
func TestCLIImportAllOrNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv := startServer(t)
	cli := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, args, &out)
		return out.String(), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := cli(args...)
		if err != nil {
			t.Fatalf("villagesync %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	a, b := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	must("device", "--db", a, "init", "--server", srv.URL, "--code", srv.code(t, "a"), "--name", "a")
	must("device", "--db", b, "init", "--server", srv.URL, "--code", srv.code(t, "b"), "--name", "b")

	books := filepath.Join(dir, "books.csv")
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(books, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Excel's "CSV UTF-8": a byte order mark and Chinese headers.
	const head = "\uFEFF村,图书馆,书名,副本号,ISBN\n"
	good := []string{
		"南香村,children,小王子,1,978-7-02-000220-7\n",
		"Dongwang,party_villagers,活着,,\n",
		"旺鱼村,children,\"Charlotte's Web, illustrated\",2,\n",
	}
	write(head + good[0] + "南香村,children,三体,many,\n" + good[1] + "\n" + "北村,children,西游记,,\n" + good[2])
	_, err := cli("device", "--db", a, "import", books)
	if err == nil {
		t.Fatal("a file with bad rows imported")
	}
	for _, want := range []string{"2 row(s) have errors, nothing was imported into books",
		"\n  line 3: books.copy_no: want an integer", "\n  line 6: books.village"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if l := must("device", "--db", a, "list", "books"); l != "" {
		t.Fatalf("a failed import wrote:\n%s", l)
	}

	write(head + strings.Join(good, ""))
	if out := must("device", "--db", a, "import", books); !strings.Contains(out,
		"imported 3 row(s) from "+books+" into books") ||
		!strings.Contains(out, "device --db "+a+" sync") {
		t.Errorf("import said: %s", out)
	}
	if s := must("device", "--db", a, "status"); !strings.Contains(s, `"books":3`) {
		t.Errorf("status after import: %s", s)
	}
	if out := must("device", "--db", a, "sync"); !strings.Contains(out, "pushed 3 (applied 3") {
		t.Errorf("sync: %s", out)
	}
	must("device", "--db", b, "sync")
	got := must("device", "--db", b, "list", "books")
	for _, want := range []string{`"title":"小王子"`, `"isbn":"978-7-02-000220-7"`, `"village":"东旺村"`, `"village":"旺渔村"`,
		`"title":"Charlotte's Web, illustrated"`, `"copy_no":2`} {
		if !strings.Contains(got, want) {
			t.Errorf("the server's books, through b, lack %s:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "\n"); n != 3 {
		t.Errorf("b has %d books, want 3", n)
	}
}

func TestCLIImportArguments(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv := startServer(t)
	a := filepath.Join(dir, "a.db")
	cli := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, append([]string{"device", "--db", a}, args...), &out)
		return out.String(), err
	}
	if _, err := cli("init", "--server", srv.URL, "--code", srv.code(t, "a"), "--name", "a"); err != nil {
		t.Fatal(err)
	}
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sessions := file("june.jsonl", `{"village":"南香村","session_date":"2024-06-03","children_present":30.0}`+"\n\n"+
		`{"村":"东旺村","日期":"2024-06-04","出席儿童数":12,"notes":null}`+"\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"import", sessions},
			"say which table with --table (tables: books, cleanup_tasks, loans, tutoring_sessions, villages)"},
		{[]string{"import", "--table", "nope", sessions}, `unknown table "nope"`},
		{[]string{"import"}, "give one FILE"},
		{[]string{"import", sessions, sessions}, "give one FILE"},
		{[]string{"import", "--table", "books", file("x.csv", "title,名字\nx,y\n")},
			`x.csv: column "名字" is not a field of books`},
		{[]string{"import", "--table", "books", file("y.csv", "title,书名\nx,y\n")}, `"title" and "书名" are both books.title`},
		{[]string{"import", "--table", "books", file("z.csv", "title,,notes\n")}, "z.csv: header: column 2 has no name"},
		{[]string{"import", "--table", "books", file("e.csv", "title\n")}, "e.csv has no rows to import"},
		{[]string{"import", "--table", "books", file("j.jsonl", "{\"title\":\"a\"}\n{\"title\":\n{\"title\":[\"b\"]}\n")},
			"2 row(s) have errors, nothing was imported into books\n  line 2: not valid JSON"},
		{[]string{"import", "--table", "books", file("k.jsonl", "{\"title\":\"a\"}\n\n{\"书名\":\"c\",\"title\":\"d\"}\n")},
			"1 row(s) have errors, nothing was imported into books\n  line 3: \"title\" and \"书名\" are both books.title"},
	} {
		if _, err := cli(tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want ...%s...", tc.args, err, tc.want)
		}
	}
	// Flags may follow the file.
	if out, err := cli("import", sessions, "--table", "tutoring_sessions"); err != nil ||
		!strings.Contains(out, "imported 2 row(s)") {
		t.Fatalf("import: %s %v", out, err)
	}
	if l, _ := cli("list", "tutoring_sessions"); !strings.Contains(l, `"children_present":30`) ||
		!strings.Contains(l, `"village":"东旺村"`) {
		t.Errorf("sessions:\n%s", l)
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"unicode/utf8"

	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/bench"
	"github.com/futian-xiaomo/villagesync/schema"
)

const usage = `villagesync: offline-first sync for the village programs

  villagesync demo [--serve [--listen ADDR]]          run the whole story in one process; --serve keeps
                                                     its server running with the web console
  villagesync serve [--db FILE|URL] [--listen ADDR]  run the server, with the web console at /
                                                     (--db: a SQLite file or a postgres:// URL)
  villagesync admin --db FILE|URL bootstrap NAME     first admin, straight into the server database
  villagesync admin --db FILE|URL mark-restored      after restoring a database: devices push their writes again
  villagesync admin [--device FILE | --server URL --token T] users|add-user|set-villages|add-village|enroll|devices|revoke ...
  villagesync audit [--device FILE] TABLE ID          who changed a record and when
  villagesync backup --db FILE --out FILE             consistent copy while the server runs (SQLite)
  villagesync migrate --from FILE --to URL [--verify] copy a stopped server's SQLite database into PostgreSQL
  villagesync health [--server URL]                  exit 0 if the server serves (default: VILLAGESYNC_LISTEN's)
  villagesync device --db FILE init --server URL --code CODE [--name NAME]   (or: enroll --server URL CODE)
  villagesync device --db FILE put TABLE [--id UUID] field=value...
  villagesync device --db FILE get TABLE ID
  villagesync device --db FILE list TABLE
  villagesync device --db FILE delete TABLE ID
  villagesync device --db FILE sync
  villagesync device --db FILE import [--table TABLE] [--sheet SHEET] FILE   rows of a .csv, .xlsx or .jsonl file, all or none
  villagesync device --db FILE log-session --village 南香村 --date 2024-06-03 --children 30 --subject 数学 [--class ..]
  villagesync device --db FILE report-cleanup --village Dongwang --kind street_sweeping --place 村口 [--status ..]
  villagesync device --db FILE lend --book BOOK_ID --card CARD [--on DATE] [--due DATE]
  villagesync device --db FILE return LOAN_ID [--on DATE]
  villagesync device --db FILE status                what is pending, refused, last synced
  villagesync device --db FILE rejected              changes the server refused, with the reason
  villagesync device --db FILE carry-out FILE        unsynced changes as a sealed file to carry (they stay pending)
  villagesync device --db FILE carry-in FILE         import a pull file staff wrote for this device
  villagesync conflicts [--device FILE] [--table TABLE] [--open]
  villagesync conflicts resolve [--device FILE] ID keep|take_loser|distinct|merge|noted
  villagesync carry [--device FILE] FILE              hand a device's push file to the server (any enrolled device)
  villagesync carry-for [--device FILE] DEVICE FILE   write a pull file for a device (replica or name; staff)
  villagesync report --server URL [--from YYYY-MM] [--to YYYY-MM] [--village V]... [--format table|csv|xlsx|json] [--lang zh|en] [--out FILE [--force]]

Flags fall back to environment variables: VILLAGESYNC_DB, VILLAGESYNC_LISTEN,
VILLAGESYNC_DEVICE_DB, VILLAGESYNC_SERVER, VILLAGESYNC_CODE, VILLAGESYNC_TOKEN,
VILLAGESYNC_CREDENTIALS (a device file whose token staff tools use), VILLAGESYNC_LOG_LEVEL.
Tables: ` + "tutoring_sessions, cleanup_tasks, books, loans, villages" + `
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stopProfile := bench.StartCPUProfile()
	err := run(ctx, os.Args[1:], os.Stdout)
	stopProfile()
	bench.NotePeakRSS()
	if err != nil {
		printError(os.Stderr, err)
		os.Exit(1)
	}
}

// printError prints why a command failed. A refusal may quote names and
// values a device sent: escaped, they cannot drive the terminal; the
// lines of a list stay lines.
func printError(w io.Writer, err error) {
	fmt.Fprintln(w, "villagesync:", schema.Printable(err.Error(), true))
}

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "demo":
		return demoCmd(ctx, args[1:], out)
	case "serve":
		return serve(ctx, args[1:])
	case "device":
		return device(ctx, args[1:], out)
	case "conflicts":
		return conflicts(ctx, args[1:], out)
	case "admin":
		return admin(ctx, args[1:], out)
	case "audit":
		return audit(ctx, args[1:], out)
	case "backup":
		return backup(ctx, args[1:], out)
	case "migrate":
		return migrateCmd(ctx, args[1:], out)
	case "health":
		return health(ctx, args[1:], out)
	case "bench":
		return benchCmd(ctx, args[1:], out)
	case "report":
		return report(ctx, args[1:], out)
	case "carry":
		return carryCmd(ctx, args[1:], out)
	case "carry-for":
		return carryFor(ctx, args[1:], out)
	case "help", "-h", "--help":
		fmt.Fprint(out, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usage)
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// flagFromEnv sets the flag name (of any type: a duration, a byte count)
// from the environment variable v unless the command line set it; a bad
// value is an error, not a silent default.
func flagFromEnv(fs *flag.FlagSet, name, v string) error {
	val := os.Getenv(v)
	if val == "" {
		return nil
	}
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	if set {
		return nil
	}
	if err := fs.Set(name, val); err != nil {
		return fmt.Errorf("%s: %w", v, err)
	}
	return nil
}

func logger() *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(env("VILLAGESYNC_LOG_LEVEL", "info"))); err != nil {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// jsonEncoder writes one JSON value a line, Chinese and <> as they are,
// control characters escaped (see jsonSafe).
func jsonEncoder(out io.Writer) *json.Encoder {
	enc := json.NewEncoder(jsonSafe{out})
	enc.SetEscapeHTML(false)
	return enc
}

// jsonSafe escapes what encoding/json leaves as it is and a terminal may
// obey (DEL, C1 controls such as CSI U+009B, the bidirectional controls)
// as \uXXXX: the same JSON to a reader. An Encoder writes a whole value
// at a time, so no character is split between writes.
type jsonSafe struct{ w io.Writer }

func (j jsonSafe) Write(p []byte) (int, error) {
	unsafe := func(r rune) bool { return r != '\n' && schema.IsControl(r) }
	if !bytes.ContainsFunc(p, unsafe) {
		return j.w.Write(p)
	}
	var b bytes.Buffer
	for rest := p; len(rest) > 0; {
		r, n := utf8.DecodeRune(rest)
		if unsafe(r) {
			fmt.Fprintf(&b, `\u%04x`, r)
		} else {
			b.Write(rest[:n])
		}
		rest = rest[n:]
	}
	if _, err := j.w.Write(b.Bytes()); err != nil {
		return 0, err
	}
	return len(p), nil
}

// encodeAll prints list one JSON value a line, or the error that got it.
func encodeAll[T any](enc *json.Encoder, list []T, err error) error {
	if err != nil {
		return err
	}
	for _, v := range list {
		if err := enc.Encode(v); err != nil {
			return err
		}
	}
	return nil
}

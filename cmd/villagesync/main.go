// Command villagesync is the server, the device tool and the staff tool of
// villagesync. It only parses flags and wires packages together.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/futian-xiaomo/villagesync/api/rpc"
	"github.com/futian-xiaomo/villagesync/api/server"
	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/clients/go/staff"
	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/bench"
	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/demo"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

const usage = `villagesync: offline-first sync for the village programs

  villagesync demo                                   run the whole story in one process
  villagesync serve [--db FILE] [--listen ADDR]      run the server
  villagesync admin --db FILE bootstrap NAME         first admin, straight into the server database
  villagesync admin [--device FILE | --server URL --token T] users|add-user|set-villages|add-village|enroll|devices|revoke ...
  villagesync audit [--device FILE] TABLE ID          who changed a record and when
  villagesync backup --db FILE --out FILE             consistent copy while the server runs
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
  villagesync conflicts [--device FILE] [--table TABLE] [--open]
  villagesync conflicts resolve [--device FILE] ID keep|take_loser|distinct|merge|noted
  villagesync report --server URL [--from YYYY-MM] [--to YYYY-MM] [--village V]... [--format table|csv|xlsx|json] [--lang zh|en] [--out FILE]

Flags fall back to environment variables: VILLAGESYNC_DB, VILLAGESYNC_LISTEN,
VILLAGESYNC_DEVICE_DB, VILLAGESYNC_SERVER, VILLAGESYNC_CODE, VILLAGESYNC_TOKEN,
VILLAGESYNC_CREDENTIALS (a device file whose token staff tools use), VILLAGESYNC_LOG_LEVEL.
Tables: ` + "tutoring_sessions, cleanup_tasks, books, loans, villages" + `
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout)
	bench.NotePeakRSS()
	if err != nil {
		fmt.Fprintln(os.Stderr, "villagesync:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "demo":
		res, err := demo.Run(ctx, out, "")
		if err == nil && !res.Converged {
			err = errors.New("demo: replicas did not converge")
		}
		return err
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
		fs := flag.NewFlagSet("backup", flag.ContinueOnError)
		dbFile := fs.String("db", env("VILLAGESYNC_DB", "./villagesync.db"), "server database file")
		outFile := fs.String("out", "", "the backup file to write (must not exist)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *outFile == "" {
			return errors.New("backup: --out FILE is required")
		}
		if err := store.Backup(ctx, *dbFile, *outFile); err != nil {
			return err
		}
		fmt.Fprintf(out, "backed up %s to %s; to restore, stop the server and copy it over %s (remove %s-wal and %s-shm)\n", *dbFile, *outFile, *dbFile, *dbFile, *dbFile)
		return nil
	case "bench":
		return benchCmd(ctx, args[1:], out)
	case "report":
		return report(ctx, args[1:], out)
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

// durationFromEnv sets the duration flag name from the environment
// variable v unless the command line set it; a bad value is an error, not
// a silent default.
func durationFromEnv(fs *flag.FlagSet, name, v string) error {
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

func serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	dbFile := fs.String("db", env("VILLAGESYNC_DB", "./villagesync.db"), "server database file")
	listen := fs.String("listen", env("VILLAGESYNC_LISTEN", "127.0.0.1:8080"), "address to listen on")
	grace := fs.Duration("shutdown-grace", 20*time.Second, "how long in-flight syncs may finish on SIGTERM")
	keep := fs.Duration("keep-deletes", 30*24*time.Hour, "collect deletes every device seen within this long has pulled (devices away longer re-pull); 0 keeps them all")
	perDevice := fs.Float64("device-rate", rpc.DefaultLimits.RequestsPerSecond, "requests a second each device may make (0: no limit)")
	burst := fs.Int("device-burst", rpc.DefaultLimits.Burst, "requests a device may make at once above its rate")
	cert := fs.String("tls-cert", env("VILLAGESYNC_TLS_CERT", ""), "serve HTTPS with this certificate (PEM)")
	key := fs.String("tls-key", env("VILLAGESYNC_TLS_KEY", ""), "the certificate's private key (PEM)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := durationFromEnv(fs, "keep-deletes", "VILLAGESYNC_KEEP_DELETES"); err != nil {
		return err
	}
	switch {
	case *keep < 0:
		return fmt.Errorf("keep-deletes: %v is negative; give a duration such as 720h, or 0 to keep every delete", *keep)
	case *perDevice < 0:
		return fmt.Errorf("device-rate: %v is negative; give requests a second, or 0 for no limit", *perDevice)
	case *perDevice > 0 && *burst < 1:
		// A bucket of size 0 refuses every call, for ever.
		return fmt.Errorf("device-burst: %d would refuse every call; give at least 1", *burst)
	}
	log := logger()
	st, err := store.Open(ctx, *dbFile, store.Options{Logger: log})
	if err != nil {
		return err
	}
	defer st.Close()
	lim := rpc.DefaultLimits
	lim.RequestsPerSecond, lim.Burst = *perDevice, *burst
	srv, err := server.StartTLS(st, *listen, log, *grace, server.TLS{CertFile: *cert, KeyFile: *key}, lim)
	if err != nil {
		return err
	}
	log.Info("villagesync server", "url", srv.URL, "db", *dbFile, "server_id", fmt.Sprintf("%016x", st.ServerID()))
	if *keep > 0 {
		go store.CollectEvery(ctx, st, time.Hour, *keep, log)
	}
	<-ctx.Done()
	return srv.Stop()
}

func device(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("device", flag.ContinueOnError)
	dbFile := fs.String("db", env("VILLAGESYNC_DEVICE_DB", ""), "device database file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dbFile == "" {
		return errors.New("device: --db FILE is required")
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return errors.New("device: give a command: init, put, get, list, delete, import, sync, status, rejected, log-session, report-cleanup, lend, return")
	}
	cmd, rest := rest[0], rest[1:]
	if cmd == "enroll" {
		// device enroll [--server URL] [--name NAME] CODE: init by another name.
		cmd = "init"
		if n := len(rest); n > 0 && !strings.HasPrefix(rest[n-1], "-") {
			rest = append(rest[:n-1:n-1], "--code", rest[n-1])
		}
	}
	if cmd == "init" {
		ifs := flag.NewFlagSet("init", flag.ContinueOnError)
		url := ifs.String("server", env("VILLAGESYNC_SERVER", ""), "server URL, e.g. http://127.0.0.1:8080")
		code := ifs.String("code", env("VILLAGESYNC_CODE", ""), "one-time enrollment code from staff (villagesync admin enroll USER)")
		name := ifs.String("name", "", "device name (default: host name)")
		if err := ifs.Parse(rest); err != nil {
			return err
		}
		if *url == "" || *code == "" {
			return errors.New("device init: --server URL and --code CODE are required")
		}
		r, err := replica.Init(ctx, *dbFile, *url, *code, *name, replica.Options{})
		if err != nil {
			return err
		}
		defer r.Close()
		fmt.Fprintf(out, "enrolled %s as replica %d of %s\n", *dbFile, r.ID(), *url)
		return nil
	}
	sp := &syncProgress{}
	r, err := replica.Open(ctx, *dbFile, replica.Options{Progress: sp.update})
	if err != nil {
		return err
	}
	defer r.Close()
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	switch cmd {
	case "put":
		pfs := flag.NewFlagSet("put", flag.ContinueOnError)
		id := pfs.String("id", "", "record id (omit to create a new record)")
		if len(rest) == 0 {
			return errors.New("device put: give TABLE field=value...")
		}
		table := rest[0]
		if err := pfs.Parse(rest[1:]); err != nil {
			return err
		}
		vals, err := parseFields(table, pfs.Args())
		if err != nil {
			return err
		}
		newID, err := r.Put(ctx, table, *id, vals)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, newID)
		return nil
	case "get":
		if len(rest) != 2 {
			return errors.New("device get: give TABLE ID")
		}
		rec, err := r.Get(ctx, rest[0], rest[1])
		if err != nil {
			return err
		}
		if rec == nil {
			return fmt.Errorf("device get: no %s record %s on this device", rest[0], rest[1])
		}
		return enc.Encode(replica.JSON(rec))
	case "list":
		if len(rest) != 1 {
			return errors.New("device list: give TABLE")
		}
		recs, err := r.List(ctx, rest[0])
		if err != nil {
			return err
		}
		for _, rec := range recs {
			if err := enc.Encode(replica.JSON(rec)); err != nil {
				return err
			}
		}
		return nil
	case "delete":
		if len(rest) != 2 {
			return errors.New("device delete: give TABLE ID")
		}
		return r.Delete(ctx, rest[0], rest[1])
	case "sync":
		st, err := r.Sync(ctx)
		sp.done()
		fmt.Fprintln(out, st)
		return err
	case "import":
		return importFile(ctx, r, *dbFile, rest, out)
	case "log-session", "report-cleanup", "lend", "return":
		return friendly(ctx, r, cmd, rest, out)
	case "status":
		s, err := r.Status(ctx)
		if err != nil {
			return err
		}
		return enc.Encode(s)
	case "rejected":
		list, err := r.Rejected(ctx)
		if err != nil {
			return err
		}
		for _, c := range list {
			if err := enc.Encode(c); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("device: unknown command %q", cmd)
}

// parseFields reads field=value arguments against the table's columns.
func parseFields(table string, args []string) (map[string]schema.Value, error) {
	t, err := schema.Lookup(table)
	if err != nil {
		return nil, err
	}
	vals := map[string]schema.Value{}
	for _, a := range args {
		name, raw, ok := strings.Cut(a, "=")
		if !ok {
			return nil, fmt.Errorf("%q: want field=value", a)
		}
		c := t.Column(name)
		if c == nil {
			return nil, fmt.Errorf("%s.%s: unknown field (known: %s)", table, name, strings.Join(t.ColumnNames(), ", "))
		}
		v, err := c.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("%s.%w", table, err)
		}
		vals[name] = v
	}
	return vals, nil
}

func conflicts(ctx context.Context, args []string, out io.Writer) error {
	if len(args) > 0 && args[0] == "resolve" {
		return resolve(ctx, args[1:], out)
	}
	fs := flag.NewFlagSet("conflicts", flag.ContinueOnError)
	cred := credentialFlags(fs)
	table := fs.String("table", "", "only this table")
	open := fs.Bool("open", false, "only entries not resolved yet")
	if err := fs.Parse(args); err != nil {
		return err
	}
	url, hc, err := cred.client(ctx)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	return staff.Conflicts(ctx, hc, url, staff.Filter{Table: *table, OpenOnly: *open}, func(c staff.Conflict) error { return enc.Encode(c) })
}

func resolve(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("conflicts resolve", flag.ContinueOnError)
	cred := credentialFlags(fs)
	by := fs.String("by", env("VILLAGESYNC_STAFF", ""), "on behalf of whom (the token's user is recorded)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	url, hc, err := cred.client(ctx)
	if err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return errors.New("conflicts resolve: give ID RESOLUTION (keep, take_loser, distinct, merge or noted)")
	}
	id, err := strconv.ParseUint(fs.Arg(0), 10, 64)
	if err != nil {
		return fmt.Errorf("conflicts resolve: %q is not a conflict id", fs.Arg(0))
	}
	c, err := staff.Resolve(ctx, hc, url, id, fs.Arg(1), *by)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	return enc.Encode(c)
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"connectrpc.com/connect"
	"github.com/mdp/qrterminal/v3"

	"github.com/futian-xiaomo/villagesync/clients/go/staff"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

const adminUsage = `villagesync admin --db FILE|URL bootstrap NAME
villagesync admin --db FILE|URL mark-restored               after a restore, with every server stopped
villagesync admin [--device FILE] users
villagesync admin [--device FILE] add-user NAME volunteer|staff|coordinator|admin [VILLAGE...]
villagesync admin [--device FILE] set-villages NAME VILLAGE...
villagesync admin [--device FILE] add-village NAME PINYIN [ALIAS...]
villagesync admin [--device FILE] enroll NAME [--ttl 24h]     one-time code, as text and QR code
villagesync admin [--device FILE] devices
villagesync admin [--device FILE] revoke REPLICA
villagesync admin [--device FILE] reset-key REPLICA          keep the next box key the device sends`

// adminCtx is what an admin subcommand calls the server with, and where
// it prints.
type adminCtx struct {
	url string
	hc  connect.HTTPClient
	ttl time.Duration
	out io.Writer
	enc *json.Encoder
}

// adminCommands are the admin subcommands that call the server with a
// staff token (bootstrap makes the first one).
var adminCommands = map[string]func(ctx context.Context, a adminCtx, args []string) error{
	"users":        adminUsers,
	"add-user":     adminAddUser,
	"set-villages": adminSetVillages,
	"add-village":  adminAddVillage,
	"enroll":       adminEnroll,
	"devices":      adminDevices,
	"revoke":       adminRevoke,
	"reset-key":    adminResetKey,
}

func admin(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("admin", flag.ContinueOnError)
	dbFile := fs.String("db", "", "server database file or postgres:// URL (bootstrap and mark-restored only)")
	cred := credentialFlags(fs)
	ttl := fs.Duration("ttl", store.DefaultCodeTTL, "how long an enrollment code may be used")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return errors.New("admin: give a command:\n" + adminUsage)
	}
	cmd, rest := rest[0], rest[1:]
	switch cmd {
	case "bootstrap":
		return bootstrap(ctx, *dbFile, *ttl, rest, out)
	case "mark-restored":
		return markRestored(ctx, *dbFile, rest, out)
	}
	url, hc, err := cred.client(ctx)
	if err != nil {
		return err
	}
	run, ok := adminCommands[cmd]
	if !ok {
		return fmt.Errorf("admin: unknown command %q\n%s", cmd, adminUsage)
	}
	return run(ctx, adminCtx{url: url, hc: hc, ttl: *ttl, out: out, enc: jsonEncoder(out)}, rest)
}

// bootstrap is `admin --db FILE bootstrap NAME`. The first admin has no
// token to call the server with: it writes the user and a code straight
// into the database (safe while servers run: SQLite serialises the
// writers, PostgreSQL's transactions the servers').
func bootstrap(ctx context.Context, dbFile string, ttl time.Duration, args []string, out io.Writer) error {
	if dbFile == "" || len(args) != 1 {
		return errors.New("admin bootstrap: give --db FILE|URL NAME")
	}
	st, err := store.Open(ctx, dbFile, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.CreateUser(ctx, args[0], store.Admin, nil); err != nil {
		return err
	}
	code, expires, err := st.NewEnrollmentCode(ctx, args[0], ttl)
	if err != nil {
		return err
	}
	showCode(out, args[0], code, expires)
	return nil
}

// markRestored is `admin --db DB mark-restored`: a database put back from
// a dump, a point-in-time recovery or a copied backup gets a new
// incarnation, so devices that synced with what was lost push their
// writes again. A running server keeps its incarnation in memory: every
// server must be stopped before, or restarted after.
func markRestored(ctx context.Context, db string, args []string, out io.Writer) error {
	if db == "" || len(args) != 0 {
		return errors.New("admin mark-restored: give --db FILE|URL, with every server stopped")
	}
	was, now, err := store.MarkRestored(ctx, db)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s is marked restored: incarnation %016x (was %016x); devices that synced since push their writes again\n",
		redactDSN(db), now, was)
	fmt.Fprintln(out, "warning: a server that was running still answers with the old incarnation: restart every server now")
	return nil
}

// adminUsers is `users`.
func adminUsers(ctx context.Context, a adminCtx, _ []string) error {
	users, err := staff.Users(ctx, a.hc, a.url)
	return encodeAll(a.enc, users, err)
}

// adminAddUser is `add-user NAME ROLE [VILLAGE...]`.
func adminAddUser(ctx context.Context, a adminCtx, args []string) error {
	if len(args) < 2 {
		return errors.New("admin add-user: give NAME ROLE [VILLAGE...]")
	}
	u, err := staff.AddUser(ctx, a.hc, a.url, args[0], args[1], args[2:])
	if err != nil {
		return err
	}
	return a.enc.Encode(u)
}

// adminSetVillages is `set-villages NAME VILLAGE...`.
func adminSetVillages(ctx context.Context, a adminCtx, args []string) error {
	if len(args) < 1 {
		return errors.New("admin set-villages: give NAME VILLAGE...")
	}
	u, err := staff.SetVillages(ctx, a.hc, a.url, args[0], args[1:])
	if err != nil {
		return err
	}
	return a.enc.Encode(u)
}

// adminAddVillage is `add-village NAME PINYIN [ALIAS...]`.
func adminAddVillage(ctx context.Context, a adminCtx, args []string) error {
	if len(args) < 2 {
		return errors.New("admin add-village: give NAME PINYIN [ALIAS...]")
	}
	return printID(a.out)(staff.AddVillage(ctx, a.hc, a.url, args[0], args[1], args[2:]))
}

// adminEnroll is `enroll NAME`, for --ttl.
func adminEnroll(ctx context.Context, a adminCtx, args []string) error {
	if len(args) != 1 {
		return errors.New("admin enroll: give the user's NAME")
	}
	code, expires, err := staff.EnrollmentCode(ctx, a.hc, a.url, args[0], a.ttl)
	if err != nil {
		return err
	}
	showCode(a.out, args[0], code, expires)
	return nil
}

// adminDevices is `devices`.
func adminDevices(ctx context.Context, a adminCtx, _ []string) error {
	devices, err := staff.Devices(ctx, a.hc, a.url)
	return encodeAll(a.enc, devices, err)
}

// adminRevoke is `revoke REPLICA`.
func adminRevoke(ctx context.Context, a adminCtx, args []string) error {
	if len(args) != 1 {
		return errors.New("admin revoke: give the device's REPLICA number")
	}
	n, err := strconv.ParseUint(args[0], 10, 32)
	if err != nil {
		return fmt.Errorf("admin revoke: %q is not a replica number", args[0])
	}
	d, err := staff.Revoke(ctx, a.hc, a.url, uint32(n))
	if err != nil {
		return err
	}
	return a.enc.Encode(d)
}

// adminResetKey is `reset-key REPLICA`: after a device was restored from
// an older copy of its file (the server logs "another box key"), and
// staff checked it is the real device.
func adminResetKey(ctx context.Context, a adminCtx, args []string) error {
	if len(args) != 1 {
		return errors.New("admin reset-key: give the device's REPLICA number")
	}
	n, err := strconv.ParseUint(args[0], 10, 32)
	if err != nil {
		return fmt.Errorf("admin reset-key: %q is not a replica number", args[0])
	}
	d, err := staff.ResetKey(ctx, a.hc, a.url, uint32(n))
	if err != nil {
		return err
	}
	return a.enc.Encode(d)
}

// showCode prints an enrollment code as text and as a QR code, as field
// tools do: a phone scans it, a volunteer without a camera types it.
func showCode(out io.Writer, user, code string, expires time.Time) {
	fmt.Fprintf(out, "enrollment code for %s (one use, until %s):\n\n    %s\n\n",
		user, expires.Local().Format("2006-01-02 15:04"), code)
	qrterminal.GenerateHalfBlock(code, qrterminal.L, out)
	fmt.Fprintf(out, "\non the device: villagesync device --db FILE init --server URL --code %s\n", code)
}

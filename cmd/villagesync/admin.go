package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/mdp/qrterminal/v3"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
	"github.com/futian-xiaomo/villagesync/clients/go/bearer"
	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// credentials are how staff tools authenticate: the token of an enrolled
// device file (staff enroll their laptop like a phone), or a token given
// directly.
type credentials struct {
	device, server, token *string
}

func credentialFlags(fs *flag.FlagSet) credentials {
	return credentials{
		device: fs.String("device", env("VILLAGESYNC_CREDENTIALS", ""), "an enrolled device file whose server and token to use"),
		server: fs.String("server", env("VILLAGESYNC_SERVER", "http://127.0.0.1:8080"), "server URL (with --token)"),
		token:  fs.String("token", env("VILLAGESYNC_TOKEN", ""), "device token (prefer --device: a token on a command line is visible to others)"),
	}
}

func (c credentials) client(ctx context.Context) (string, connect.HTTPClient, error) {
	if *c.device != "" {
		r, err := replica.Open(ctx, *c.device, replica.Options{})
		if err != nil {
			return "", nil, err
		}
		defer r.Close()
		return r.ServerURL(), r.HTTPClient(), nil
	}
	if *c.token == "" {
		return "", nil, errors.New("give --device FILE (an enrolled device) or --token TOKEN")
	}
	return *c.server, bearer.Client(nil, *c.token), nil
}

const adminUsage = `villagesync admin --db FILE bootstrap NAME
villagesync admin [--device FILE] users
villagesync admin [--device FILE] add-user NAME volunteer|staff|coordinator|admin [VILLAGE...]
villagesync admin [--device FILE] set-villages NAME VILLAGE...
villagesync admin [--device FILE] add-village NAME PINYIN [ALIAS...]
villagesync admin [--device FILE] enroll NAME [--ttl 24h]     one-time code, as text and QR code
villagesync admin [--device FILE] devices
villagesync admin [--device FILE] revoke REPLICA`

func admin(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("admin", flag.ContinueOnError)
	dbFile := fs.String("db", "", "server database (bootstrap only)")
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
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	if cmd == "bootstrap" {
		// The first admin has no token to call the server with: write the
		// user and a code straight into the database (safe while the
		// server runs: SQLite serialises the writers).
		if *dbFile == "" || len(rest) != 1 {
			return errors.New("admin bootstrap: give --db FILE NAME")
		}
		st, err := store.Open(ctx, *dbFile, store.Options{})
		if err != nil {
			return err
		}
		defer st.Close()
		if err := st.CreateUser(ctx, rest[0], store.Admin, nil); err != nil {
			return err
		}
		code, expires, err := st.NewEnrollmentCode(ctx, rest[0], *ttl)
		if err != nil {
			return err
		}
		showCode(out, rest[0], code, expires)
		return nil
	}
	url, hc, err := cred.client(ctx)
	if err != nil {
		return err
	}
	c := villagesyncv1connect.NewAccessServiceClient(hc, url)
	switch cmd {
	case "users":
		resp, err := c.ListUsers(ctx, &v1.ListUsersRequest{})
		if err != nil {
			return err
		}
		for _, u := range resp.GetUsers() {
			if err := enc.Encode(u); err != nil {
				return err
			}
		}
		return nil
	case "add-user":
		if len(rest) < 2 {
			return errors.New("admin add-user: give NAME ROLE [VILLAGE...]")
		}
		resp, err := c.CreateUser(ctx, &v1.CreateUserRequest{Name: rest[0], Role: rest[1], Villages: rest[2:]})
		if err != nil {
			return err
		}
		return enc.Encode(resp.GetUser())
	case "set-villages":
		if len(rest) < 1 {
			return errors.New("admin set-villages: give NAME VILLAGE...")
		}
		resp, err := c.SetVillages(ctx, &v1.SetVillagesRequest{User: rest[0], Villages: rest[1:]})
		if err != nil {
			return err
		}
		return enc.Encode(resp.GetUser())
	case "add-village":
		if len(rest) < 2 {
			return errors.New("admin add-village: give NAME PINYIN [ALIAS...]")
		}
		resp, err := c.AddVillage(ctx, &v1.AddVillageRequest{Name: rest[0], Pinyin: rest[1], Aliases: rest[2:]})
		if err != nil {
			return err
		}
		fmt.Fprintln(out, resp.GetId())
		return nil
	case "enroll":
		if len(rest) != 1 {
			return errors.New("admin enroll: give the user's NAME")
		}
		resp, err := c.CreateEnrollmentCode(ctx, &v1.CreateEnrollmentCodeRequest{User: rest[0], TtlSeconds: uint32(ttl.Seconds())})
		if err != nil {
			return err
		}
		showCode(out, rest[0], resp.GetCode(), time.UnixMilli(resp.GetExpiresAtMs()))
		return nil
	case "devices":
		resp, err := c.ListDevices(ctx, &v1.ListDevicesRequest{})
		if err != nil {
			return err
		}
		for _, d := range resp.GetDevices() {
			if err := enc.Encode(d); err != nil {
				return err
			}
		}
		return nil
	case "revoke":
		if len(rest) != 1 {
			return errors.New("admin revoke: give the device's REPLICA number")
		}
		n, err := strconv.ParseUint(rest[0], 10, 32)
		if err != nil {
			return fmt.Errorf("admin revoke: %q is not a replica number", rest[0])
		}
		resp, err := c.RevokeDevice(ctx, &v1.RevokeDeviceRequest{Replica: uint32(n)})
		if err != nil {
			return err
		}
		return enc.Encode(resp.GetDevice())
	}
	return fmt.Errorf("admin: unknown command %q\n%s", cmd, adminUsage)
}

// showCode prints an enrollment code as text and as a QR code, as field
// tools do: a phone scans it, a volunteer without a camera types it.
func showCode(out io.Writer, user, code string, expires time.Time) {
	fmt.Fprintf(out, "enrollment code for %s (one use, until %s):\n\n    %s\n\n", user, expires.Local().Format("2006-01-02 15:04"), code)
	qrterminal.GenerateHalfBlock(code, qrterminal.L, out)
	fmt.Fprintf(out, "\non the device: villagesync device --db FILE init --server URL --code %s\n", code)
}

func audit(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	cred := credentialFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return errors.New("audit: give TABLE ID")
	}
	url, hc, err := cred.client(ctx)
	if err != nil {
		return err
	}
	resp, err := villagesyncv1connect.NewAccessServiceClient(hc, url).ListChanges(ctx, &v1.ListChangesRequest{Table: fs.Arg(0), RecordId: fs.Arg(1)})
	if err != nil {
		return err
	}
	for _, c := range resp.GetChanges() {
		fmt.Fprintf(out, "%s  %-12s %-20s %-16s %s\n", time.UnixMilli(c.GetAtMs()).UTC().Format(time.RFC3339), c.GetOutcome(), c.GetDevice(), c.GetUser(), strings.TrimSpace(c.GetDetail()))
	}
	return nil
}

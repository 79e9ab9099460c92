package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/futian-xiaomo/villagesync/api/wire"
	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/schema"
)

// deviceCtx is what a device subcommand works with: the open replica,
// its file, and where to print.
type deviceCtx struct {
	r    *replica.Replica
	file string
	out  io.Writer
	enc  *json.Encoder
	note io.Writer // notes beside the output (stderr)
	sp   *syncProgress
}

// deviceCommands are the device subcommands that work on an enrolled
// replica (init enrolls one).
var deviceCommands = map[string]func(ctx context.Context, d deviceCtx, args []string) error{
	"put":            devicePut,
	"get":            deviceGet,
	"list":           deviceList,
	"delete":         deviceDelete,
	"sync":           deviceSync,
	"import":         importFile,
	"log-session":    logSession,
	"report-cleanup": reportCleanup,
	"lend":           lend,
	"return":         returnLoan,
	"status":         deviceStatus,
	"rejected":       deviceRejected,
	"photo":          devicePhoto,
	"photos":         devicePhotos,
	"carry-out":      deviceCarryOut,
	"carry-in":       deviceCarryIn,
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
		return errors.New("device: give a command: init, put, get, list, delete, import, sync, status, rejected, " +
			"log-session, report-cleanup, lend, return, photo, photos, carry-out, carry-in")
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
		return deviceInit(ctx, *dbFile, rest, out)
	}
	sp := &syncProgress{}
	r, err := replica.Open(ctx, *dbFile, replica.Options{Progress: sp.update})
	if err != nil {
		return err
	}
	defer r.Close()
	run, ok := deviceCommands[cmd]
	if !ok {
		return fmt.Errorf("device: unknown command %q", cmd)
	}
	return run(ctx, deviceCtx{r: r, file: *dbFile, out: out, enc: jsonEncoder(out), note: os.Stderr, sp: sp}, rest)
}

// deviceInit is `device --db FILE init --server URL --code CODE [--name NAME]`.
func deviceInit(ctx context.Context, dbFile string, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("init", flag.ContinueOnError)
	url := fs.String("server", env("VILLAGESYNC_SERVER", ""), "server URL, e.g. http://127.0.0.1:8080")
	code := fs.String("code", env("VILLAGESYNC_CODE", ""),
		"one-time enrollment code from staff (villagesync admin enroll USER)")
	name := fs.String("name", "", "device name (default: host name)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *url == "" || *code == "" {
		return errors.New("device init: --server URL and --code CODE are required")
	}
	r, err := replica.Init(ctx, dbFile, *url, *code, *name, replica.Options{})
	if err != nil {
		return err
	}
	defer r.Close()
	fmt.Fprintf(out, "enrolled %s as replica %d of %s\n", dbFile, r.ID(), *url)
	return nil
}

// devicePut is `put TABLE [--id UUID] [--original] field=value...`; a
// photo column's value may name files, sheet_photos=@a.jpg,@b.jpg, which
// are attached (downsized unless --original) and named by their digests.
func devicePut(ctx context.Context, d deviceCtx, args []string) error {
	fs := flag.NewFlagSet("put", flag.ContinueOnError)
	id := fs.String("id", "", "record id (omit to create a new record)")
	original := fs.Bool("original", false, "attach @FILE photos as they are, not downsized to "+
		fmt.Sprint(schema.PhotoMaxSide)+" pixels")
	if len(args) == 0 {
		return errors.New("device put: give TABLE field=value...")
	}
	table := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	fields, attached, err := attachFiles(ctx, d, table, fs.Args(), !*original)
	if err == nil {
		var vals map[string]schema.Value
		if vals, err = parseFields(table, fields); err == nil {
			err = printID(d.out)(d.r.Put(ctx, table, *id, vals))
		}
	}
	if err != nil {
		// No record names the photos this put attached: they would stay
		// in the file for good, never uploaded (sync/DESIGN.md, On the
		// device (Go)). Those another record names stay.
		for _, digest := range attached {
			if _, uerr := d.r.Unattach(ctx, digest); uerr != nil {
				return errors.Join(err, uerr)
			}
		}
	}
	return err
}

// attachFiles attaches the @FILE items of photo columns' values and puts
// their digests in their place; digests given as they are stay. It returns
// the digests it attached, on an error too (those attached before it).
func attachFiles(ctx context.Context, d deviceCtx, table string, args []string, downsize bool) (
	fields, attached []string, err error) {
	t, err := schema.Lookup(table)
	if err != nil {
		return nil, nil, err
	}
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		name, raw, ok := strings.Cut(a, "=")
		if c := t.Column(name); !ok || c == nil || c.Format != schema.Attachments || !strings.Contains(raw, "@") {
			continue
		}
		items := schema.SplitAttachments(raw)
		for j, it := range items {
			file, ok := strings.CutPrefix(it, "@")
			if !ok {
				continue
			}
			data, err := os.ReadFile(file)
			if err != nil {
				return nil, attached, fmt.Errorf("%s.%s: %w", table, name, err)
			}
			if items[j], err = d.r.Attach(ctx, data, downsize); err != nil {
				return nil, attached, fmt.Errorf("%s.%s: %s: %w", table, name, file, err)
			}
			attached = append(attached, items[j])
		}
		out[i] = name + "=" + strings.Join(items, ",")
	}
	return out, attached, nil
}

// printID prints the id of a record just written, unless writing failed.
func printID(out io.Writer) func(id string, err error) error {
	return func(id string, err error) error {
		if err != nil {
			return err
		}
		fmt.Fprintln(out, id)
		return nil
	}
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

// deviceGet is `get TABLE ID`.
func deviceGet(ctx context.Context, d deviceCtx, args []string) error {
	if len(args) != 2 {
		return errors.New("device get: give TABLE ID")
	}
	rec, err := d.r.Get(ctx, args[0], args[1])
	if err != nil {
		return err
	}
	if rec == nil {
		return fmt.Errorf("device get: no %s record %s on this device", args[0], args[1])
	}
	return d.enc.Encode(replica.JSON(rec))
}

// deviceList is `list TABLE`.
func deviceList(ctx context.Context, d deviceCtx, args []string) error {
	if len(args) != 1 {
		return errors.New("device list: give TABLE")
	}
	recs, err := d.r.List(ctx, args[0])
	if err != nil {
		return err
	}
	for _, rec := range recs {
		if err := d.enc.Encode(replica.JSON(rec)); err != nil {
			return err
		}
	}
	return nil
}

// deviceDelete is `delete TABLE ID`.
func deviceDelete(ctx context.Context, d deviceCtx, args []string) error {
	if len(args) != 2 {
		return errors.New("device delete: give TABLE ID")
	}
	return d.r.Delete(ctx, args[0], args[1])
}

// deviceSync is `sync`: it prints what it did even when it failed
// part-way, as a later round may have failed after earlier ones applied.
// Records go first; photos after, once their records are on the server.
func deviceSync(ctx context.Context, d deviceCtx, _ []string) error {
	st, err := d.r.Sync(ctx)
	d.sp.done()
	fmt.Fprintln(d.out, st)
	if st.ScrubPending != "" {
		fmt.Fprintln(os.Stderr, "villagesync: warning: records of villages this device no longer serves are gone "+
			"from it, but not yet wiped from its file (the next sync tries again):", st.ScrubPending)
	}
	if err != nil {
		return err
	}
	up, err := d.r.UploadAttachments(ctx)
	if len(up.Uploaded)+up.Held+len(up.Refused)+up.Waiting+up.ServerWaiting > 0 || err != nil {
		fmt.Fprintln(d.out, up)
	}
	for _, u := range up.Uploaded {
		fmt.Fprintln(d.out, "uploaded photo", u)
	}
	for _, f := range up.Refused {
		fmt.Fprintf(d.note, "villagesync: the server refused photo %s (%s): %s\n", f.Digest, f.Code, f.Reason)
	}
	return err
}

// devicePhoto is `photo DIGEST --out FILE [--thumbnail]`: a photo a record
// on the device names, fetched from the server unless the file has it.
func devicePhoto(ctx context.Context, d deviceCtx, args []string) error {
	fs := flag.NewFlagSet("photo", flag.ContinueOnError)
	out := fs.String("out", "", "file to write the photo to")
	thumb := fs.Bool("thumbnail", false, fmt.Sprintf("the thumbnail (%d pixels at most), not the photo",
		schema.ThumbMaxSide))
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return errors.New("device photo: give DIGEST --out FILE [--thumbnail]")
	}
	digest := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("device photo: --out FILE is required")
	}
	b, err := d.r.Attachment(ctx, digest, *thumb)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, b.Data, 0o600); err != nil {
		return fmt.Errorf("device photo: %w", err)
	}
	fmt.Fprintf(d.out, "%s: %s, %d bytes, %d×%d\n", *out, b.MediaType, len(b.Data), b.Width, b.Height)
	return nil
}

// devicePhotos is `photos`: the photos on the device, one JSON a line.
func devicePhotos(ctx context.Context, d deviceCtx, _ []string) error {
	list, err := d.r.Attachments(ctx)
	return encodeAll(d.enc, list, err)
}

// deviceStatus is `status`: what is pending, refused, last synced.
func deviceStatus(ctx context.Context, d deviceCtx, _ []string) error {
	s, err := d.r.Status(ctx)
	if err != nil {
		return err
	}
	return d.enc.Encode(s)
}

// deviceRejected is `rejected`: changes the server refused, with the
// reason, and (on stderr, so the output stays JSON lines) how many left the
// device with a village it no longer serves.
func deviceRejected(ctx context.Context, d deviceCtx, _ []string) error {
	list, err := d.r.Rejected(ctx)
	if err := encodeAll(d.enc, list, err); err != nil {
		return err
	}
	n, err := d.r.RejectedRemoved(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		fmt.Fprintln(d.note, removedNote(n))
	}
	return nil
}

func removedNote(n int) string {
	return fmt.Sprintf("%d refused change(s) for villages this device no longer serves were removed from it; "+
		"staff have them on the server (held changes)", n)
}

// deviceCarryOut is `carry-out FILE`: the device's pending changes as a
// push file, sealed for the server, for anyone online to carry (villagesync
// carry FILE). The changes stay pending: a lost file loses nothing.
func deviceCarryOut(ctx context.Context, d deviceCtx, args []string) error {
	if len(args) != 1 {
		return errors.New("device carry-out: give FILE (where to write the push file)")
	}
	file, st, err := d.r.CarryOut(ctx)
	if err != nil {
		return err
	}
	if err := writeOwnerOnly(args[0], file); err != nil {
		return fmt.Errorf("device carry-out: %w", err)
	}
	fmt.Fprintf(d.out, "wrote %s: %s\n", args[0], st)
	return nil
}

// deviceCarryIn is `carry-in FILE`: a pull file staff wrote for this
// device (villagesync carry-for DEVICE FILE), imported as if pulled.
func deviceCarryIn(ctx context.Context, d deviceCtx, args []string) error {
	if len(args) != 1 {
		return errors.New("device carry-in: give FILE (the file staff wrote for this device)")
	}
	b, err := readCarried(args[0])
	if err != nil {
		return fmt.Errorf("device carry-in: %w", err)
	}
	st, err := d.r.CarryIn(ctx, b)
	if err != nil {
		return err
	}
	fmt.Fprintln(d.out, st)
	return nil
}

// readCarried reads a carried file, no more than a carried file may be
// (wire.ReadCarried then says so in words).
func readCarried(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, wire.MaxCarriedBytes+1))
}

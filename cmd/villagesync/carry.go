package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
	"github.com/futian-xiaomo/villagesync/api/wire"
	"github.com/futian-xiaomo/villagesync/schema"
)

// readCarriedFile reads at most one byte more than a carried file may
// be: a file given by mistake (a disk image, a video off the same stick)
// is refused without being read into memory whole.
func readCarriedFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	file, err := io.ReadAll(io.LimitReader(f, wire.MaxCarriedBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(file) > wire.MaxCarriedBytes {
		return nil, fmt.Errorf("%s is more than a carried file's %d bytes", name, wire.MaxCarriedBytes)
	}
	return file, nil
}

// carryCmd is `carry FILE`: hand a device's push file to the server, which
// applies it as that device and notes the credentials' user as the
// carrier. Any enrolled device's credentials do.
func carryCmd(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("carry", flag.ContinueOnError)
	cred := credentialFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("carry: give FILE (a device's push file)")
	}
	file, err := readCarriedFile(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("carry: %w", err)
	}
	url, hc, err := cred.client(ctx)
	if err != nil {
		return err
	}
	resp, err := villagesyncv1connect.NewCarryServiceClient(hc, url, wire.GzipClient()).
		Carry(ctx, &v1.CarryRequest{File: file})
	if err != nil {
		return fmt.Errorf("carry %s: %w", fs.Arg(0), err)
	}
	// Names and refusals quote what a device sent: escaped, they cannot
	// drive the terminal.
	fmt.Fprintf(out, "device %s (replica %d), user %s: %d change(s)\n", schema.Printable(resp.Device, false),
		resp.Replica, schema.Printable(resp.User, false), len(resp.Results))
	counts := map[string]int{}
	for _, r := range resp.Results {
		outcome := strings.ToLower(strings.TrimPrefix(r.Outcome.String(), "OUTCOME_"))
		counts[outcome]++
		line := fmt.Sprintf("  change %d: %s", r.Index, outcome)
		if r.Message != "" {
			line += " (" + schema.Printable(r.Message, false) + ")"
		}
		fmt.Fprintln(out, line)
	}
	var summary []string
	for _, o := range []string{"applied", "merged", "already_had", "rejected"} {
		if counts[o] > 0 {
			summary = append(summary, fmt.Sprintf("%d %s", counts[o], o))
		}
	}
	if len(summary) > 0 {
		fmt.Fprintln(out, strings.Join(summary, ", "))
	}
	return nil
}

// carryFor is `carry-for DEVICE FILE`: write the server's updates for a
// device (by replica number or name) into a pull file, owner-only, to
// carry to it. Staff and admins.
func carryFor(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("carry-for", flag.ContinueOnError)
	cred := credentialFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return errors.New("carry-for: give DEVICE (replica number or device name) and FILE")
	}
	url, hc, err := cred.client(ctx)
	if err != nil {
		return err
	}
	replica, err := deviceReplica(ctx, villagesyncv1connect.NewAccessServiceClient(hc, url, wire.GzipClient()),
		fs.Arg(0))
	if err != nil {
		return fmt.Errorf("carry-for: %w", err)
	}
	resp, err := villagesyncv1connect.NewCarryServiceClient(hc, url, wire.GzipClient()).
		CarryFor(ctx, &v1.CarryForRequest{Replica: replica})
	if err != nil {
		return fmt.Errorf("carry-for %s: %w", fs.Arg(0), err)
	}
	if err := writeOwnerOnly(fs.Arg(1), resp.File); err != nil {
		return fmt.Errorf("carry-for: %w", err)
	}
	fmt.Fprintf(out, "%s: for device %s (replica %d): %d record(s), %d acknowledgement(s), %d bytes\n",
		fs.Arg(1), schema.Printable(resp.Device, false), replica, resp.Records, resp.Acks, len(resp.File))
	return nil
}

// deviceReplica is the replica a DEVICE argument names: a number as it
// is, a name by the server's device list (one device only; revoked ones
// left out, since no file is made for them).
func deviceReplica(ctx context.Context, c villagesyncv1connect.AccessServiceClient, device string) (uint32, error) {
	if n, err := strconv.ParseUint(device, 10, 32); err == nil {
		return uint32(n), nil
	}
	list, err := c.ListDevices(ctx, &v1.ListDevicesRequest{})
	if err != nil {
		return 0, fmt.Errorf("list devices: %w", err)
	}
	var found []*v1.Device
	for _, d := range list.Devices {
		if d.Name == device && d.RevokedAtMs == 0 {
			found = append(found, d)
		}
	}
	switch len(found) {
	case 0:
		return 0, fmt.Errorf("no enrolled device is called %q: give its replica number (villagesync admin devices)",
			device)
	case 1:
		return found[0].Replica, nil
	}
	var nums []string
	for _, d := range found {
		nums = append(nums, fmt.Sprintf("%d (user %s)", d.Replica, schema.Printable(d.User, false)))
	}
	return 0, fmt.Errorf("%d devices are called %q: give the replica number of one of %s", len(found), device,
		strings.Join(nums, ", "))
}

// writeOwnerOnly writes b to file, readable by its owner only whatever
// the umask or an older file's mode: a new file made beside it, renamed
// over it, so a crash leaves the old file or the new one, never half.
func writeOwnerOnly(file string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*") // 0600
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"connectrpc.com/connect"

	"github.com/futian-xiaomo/villagesync/clients/go/bearer"
	"github.com/futian-xiaomo/villagesync/clients/go/replica"
)

// credentials are how staff tools authenticate: the token of an enrolled
// device file (staff enroll their laptop like a phone), or a token given
// directly.
type credentials struct {
	fs                    *flag.FlagSet
	device, server, token *string
}

func credentialFlags(fs *flag.FlagSet) credentials {
	return credentials{
		fs: fs,
		device: fs.String("device", env("VILLAGESYNC_CREDENTIALS", ""),
			"an enrolled device file whose server and token to use"),
		server: fs.String("server", env("VILLAGESYNC_SERVER", "http://127.0.0.1:8080"), "server URL (with --token)"),
		token: fs.String("token", env("VILLAGESYNC_TOKEN", ""),
			"device token (prefer --device: a token on a command line is visible to others)"),
	}
}

func (c credentials) client(ctx context.Context) (string, connect.HTTPClient, error) {
	if *c.device != "" {
		r, err := replica.Open(ctx, *c.device, replica.Options{})
		if err != nil {
			return "", nil, err
		}
		defer r.Close()
		if err := c.conflict(r.ServerURL()); err != nil {
			return "", nil, err
		}
		return r.ServerURL(), r.HTTPClient(), nil
	}
	if *c.token == "" {
		return "", nil, errors.New("give --device FILE (an enrolled device) or --token TOKEN")
	}
	return *c.server, bearer.Client(nil, *c.token), nil
}

// flagSet reports whether the command line set flag name.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// conflict refuses a --server or --token given beside a device file: the
// file has its own, and the command would otherwise go, silently, to
// another server than the one asked for, or with another token. A
// --server that names the device's own server (as the README's examples
// do) is no conflict.
func (c credentials) conflict(deviceServer string) error {
	from := "--device " + *c.device
	if !flagSet(c.fs, "device") {
		from = "VILLAGESYNC_CREDENTIALS=" + *c.device
	}
	if flagSet(c.fs, "token") {
		return fmt.Errorf("%s: --token and %s conflict: the device file has its own token; "+
			"give one of them", c.fs.Name(), from)
	}
	if flagSet(c.fs, "server") && strings.TrimRight(*c.server, "/") != strings.TrimRight(deviceServer, "/") {
		return fmt.Errorf("%s: --server %s and %s conflict: the device is enrolled with %s; "+
			"give the device file alone, or --server URL --token TOKEN without it", c.fs.Name(), *c.server, from,
			deviceServer)
	}
	return nil
}

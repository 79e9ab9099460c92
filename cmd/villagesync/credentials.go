package main

import (
	"context"
	"errors"
	"flag"

	"connectrpc.com/connect"

	"github.com/futian-xiaomo/villagesync/clients/go/bearer"
	"github.com/futian-xiaomo/villagesync/clients/go/replica"
)

// credentials are how staff tools authenticate: the token of an enrolled
// device file (staff enroll their laptop like a phone), or a token given
// directly.
type credentials struct {
	device, server, token *string
}

func credentialFlags(fs *flag.FlagSet) credentials {
	return credentials{
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
		return r.ServerURL(), r.HTTPClient(), nil
	}
	if *c.token == "" {
		return "", nil, errors.New("give --device FILE (an enrolled device) or --token TOKEN")
	}
	return *c.server, bearer.Client(nil, *c.token), nil
}

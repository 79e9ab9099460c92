package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"

	"github.com/futian-xiaomo/villagesync/clients/web"
	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/demo"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// demoCmd runs the demo season; with --serve it then keeps the server
// running with the web console, and prints how to sign in to it.
func demoCmd(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	serveIt := fs.Bool("serve", false, "keep the server running with the web console until Ctrl-C")
	listen := fs.String("listen", env("VILLAGESYNC_LISTEN", "127.0.0.1:8080"), "address to serve on, with --serve")
	dir := fs.String("dir", "", "keep the demo's databases here (default: a temporary directory, removed at the end)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("demo: unexpected %q; flags are --serve, --listen, --dir", fs.Arg(0))
	}
	opts := demo.Options{Dir: *dir, Listen: "127.0.0.1:0"}
	if *serveIt {
		opts.Listen, opts.UI = *listen, web.Handler()
	}
	s, err := demo.Start(ctx, out, opts)
	if s == nil {
		return err
	}
	defer s.Close()
	if err == nil && !s.Result.Converged {
		err = errors.New("demo: replicas did not converge")
	}
	if err != nil || !*serveIt {
		return err
	}
	// The season has no admin; the console's people page wants one.
	if err := s.Store.CreateUser(ctx, "xiaomo-admin", store.Admin, nil); err != nil {
		return fmt.Errorf("demo: admin: %w", err)
	}
	fmt.Fprintf(out, "\n5. The web console, with this season: %s/\n", s.URL)
	fmt.Fprintf(out, "   The volunteer app: %s/app/\n", s.URL)
	fmt.Fprintln(out, "   Sign in with a one-time code (each works once, for a day), typed or opened as a link")
	fmt.Fprintln(out, "   (the volunteer's opens the app, as her QR code does):")
	for _, u := range []struct{ who, user, what string }{
		{"coordinator", "futian-coordinator", "totals, read only"},
		{"staff", "xiaomo-town-staff", "review queue, devices, enrollment"},
		{"volunteer", "nanxiang-volunteer", "南香村 only"},
		{"admin", "xiaomo-admin", "people, roles, villages"},
	} {
		code, _, err := s.Code(ctx, u.user)
		if err != nil {
			return err
		}
		// The same links the console's enrollment page makes.
		page := "/#/signin"
		if u.who == "volunteer" {
			page = "/app/#/enroll"
		}
		fmt.Fprintf(out, "   %-11s %s  %s%s?code=%s  (%s: %s)\n", u.who, code, s.URL, page, url.QueryEscape(code),
			u.user, u.what)
	}
	fmt.Fprintln(out, "   Ctrl-C stops the server and removes the demo's files.")
	<-ctx.Done()
	return nil
}

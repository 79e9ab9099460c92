package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/futian-xiaomo/villagesync/api/metrics"
	"github.com/futian-xiaomo/villagesync/api/rpc"
	"github.com/futian-xiaomo/villagesync/api/server"
	"github.com/futian-xiaomo/villagesync/clients/web"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

func serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	dbFile := fs.String("db", env("VILLAGESYNC_DB", "./villagesync.db"),
		"server database: a SQLite file, or a PostgreSQL URL postgres://user@host/db (docs/postgres.md)")
	conns := fs.Int("db-conns", 8, "most connections this server opens to PostgreSQL (env VILLAGESYNC_DB_CONNS)")
	listen := fs.String("listen", env("VILLAGESYNC_LISTEN", "127.0.0.1:8080"), "address to listen on")
	grace := fs.Duration("shutdown-grace", 20*time.Second, "how long in-flight syncs may finish on SIGTERM")
	keep := fs.Duration("keep-deletes", 30*24*time.Hour,
		"collect deletes every device seen within this long has pulled (devices away longer re-pull); 0 keeps them all")
	perDevice := fs.Float64("device-rate", rpc.DefaultLimits.RequestsPerSecond,
		"requests a second each device may make (0: no limit)")
	burst := fs.Int("device-burst", rpc.DefaultLimits.Burst, "requests a device may make at once above its rate")
	cert := fs.String("tls-cert", env("VILLAGESYNC_TLS_CERT", ""), "serve HTTPS with this certificate (PEM)")
	key := fs.String("tls-key", env("VILLAGESYNC_TLS_KEY", ""), "the certificate's private key (PEM)")
	proxies := fs.String("trusted-proxies", env("VILLAGESYNC_TRUSTED_PROXIES", ""),
		"reverse proxies (addresses or CIDRs, comma-separated) whose X-Forwarded-For names the client for rate limits")
	quota := fs.Int64("device-attachment-quota", schema.DeviceAttachmentQuota,
		"bytes of photos each device may have stored and in flight on the server (env VILLAGESYNC_DEVICE_ATTACHMENT_QUOTA)")
	metricsListen := fs.String("metrics-listen", env("VILLAGESYNC_METRICS_LISTEN", ""),
		"serve Prometheus /metrics on this address of its own, such as 127.0.0.1:9090 (empty: no metrics unless --metrics-token)")
	metricsToken := fs.String("metrics-token", env("VILLAGESYNC_METRICS_TOKEN", ""),
		"require Authorization: Bearer TOKEN on /metrics; given without --metrics-listen, /metrics is served on --listen behind it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := flagFromEnv(fs, "device-attachment-quota", "VILLAGESYNC_DEVICE_ATTACHMENT_QUOTA"); err != nil {
		return err
	}
	if err := flagFromEnv(fs, "db-conns", "VILLAGESYNC_DB_CONNS"); err != nil {
		return err
	}
	if err := flagFromEnv(fs, "keep-deletes", "VILLAGESYNC_KEEP_DELETES"); err != nil {
		return err
	}
	switch {
	case *conns < 2:
		return fmt.Errorf("db-conns: %d is too few: a server needs one connection to write while others read; give at least 2", *conns)
	case *keep < 0:
		return fmt.Errorf("keep-deletes: %v is negative; give a duration such as 720h, or 0 to keep every delete", *keep)
	case *quota < 1:
		return fmt.Errorf("device-attachment-quota: %d would refuse every photo; give bytes, such as %d",
			*quota, int64(schema.DeviceAttachmentQuota))
	case *perDevice < 0:
		return fmt.Errorf("device-rate: %v is negative; give requests a second, or 0 for no limit", *perDevice)
	case *perDevice > 0 && *burst < 1:
		// A bucket of size 0 refuses every call, for ever.
		return fmt.Errorf("device-burst: %d would refuse every call; give at least 1", *burst)
	}
	trusted, err := rpc.ParseTrustedProxies(*proxies)
	if err != nil {
		return fmt.Errorf("trusted-proxies: %w", err)
	}
	log := logger()
	st, err := store.Open(ctx, *dbFile, store.Options{Logger: log, DeviceAttachmentQuota: *quota, Conns: *conns})
	if err != nil {
		return err
	}
	defer st.Close()
	lim := rpc.DefaultLimits
	lim.RequestsPerSecond, lim.Burst, lim.TrustedProxies = *perDevice, *burst, trusted
	opt := server.Options{Limits: &lim, UI: web.Handler()}
	if *metricsListen != "" || *metricsToken != "" {
		opt.Metrics = metrics.New(st, log)
		if *metricsListen == "" {
			opt.PublicMetricsToken = *metricsToken
		}
	}
	srv, err := server.StartWith(st, *listen, log, *grace, server.TLS{CertFile: *cert, KeyFile: *key}, opt)
	if err != nil {
		return err
	}
	if *metricsListen != "" {
		msrv, err := server.StartMetrics(opt.Metrics, *metricsListen, *metricsToken, log, *grace)
		if err != nil {
			srv.Stop()
			return err
		}
		defer msrv.Stop()
		log.Info("metrics", "url", msrv.URL+"/metrics", "token", *metricsToken != "")
	} else if opt.PublicMetricsToken != "" {
		log.Info("metrics", "url", srv.URL+"/metrics", "token", true)
	}
	log.Info("villagesync server", "url", srv.URL, "console", srv.URL+"/", "db", redactDSN(*dbFile), "server_id", fmt.Sprintf("%016x", st.ServerID()),
		"schema_version", schema.Version, "oldest_app_schema", schema.OldestApp, "trusted_proxies", trusted)
	if *keep > 0 {
		go store.CollectEvery(ctx, st, time.Hour, *keep, log)
	}
	<-ctx.Done()
	return srv.Stop()
}

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/bench"
)

func benchCmd(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	sizes := fs.String("sizes", "10000,100000", "initial push and pull sizes, comma-separated")
	among := fs.Int("edit-among", 100000, "incremental edits among this many synced records (0: skip)")
	small := fs.Int("edit-among-small", 1000, "...compared with the same edit among this many (0: skip)")
	devices := fs.Int("devices", 500, "devices syncing at once (0: skip)")
	per := fs.Int("per-device", 20, "new records on each of those devices")
	million := fs.Int("memory", 1000000, "records of the peak-memory pull (0: skip)")
	quick := fs.Bool("quick", false, "small sizes, to check the benchmark runs (a minute)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	db := fs.String("db", "", "run the server stores on PostgreSQL: a postgres:// URL whose user may CREATE DATABASE; "+
		"each scenario gets a new database bench_PID_N on that server, dropped after, and the baseline is a raw insert "+
		"there (default: SQLite files in the scratch folder)")
	two := fs.Int("two-servers", 100, "with --db: devices syncing at once through two servers on one database, "+
		"each request to the next server in turn (0: skip)")
	dir := fs.String("dir", "", "scratch folder (default: a new temporary folder, removed after)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := bench.Config{EditAmong: *among, SmallAmong: *small, Devices: *devices, PerDevice: *per, Million: *million,
		DB: *db, Progress: os.Stderr}
	if *db != "" {
		cfg.TwoServers = *two
	}
	for _, s := range strings.Split(*sizes, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return fmt.Errorf("sizes: %q is not a positive number", s)
		}
		cfg.Sizes = append(cfg.Sizes, n)
	}
	if *quick {
		cfg.Sizes, cfg.EditAmong, cfg.SmallAmong, cfg.Devices, cfg.Million = []int{2000}, 2000, 200, 50, 0
		cfg.TwoServers = min(cfg.TwoServers, 20)
	}
	var err error
	if cfg.Bin, err = os.Executable(); err != nil {
		return fmt.Errorf("bench: find this program to run servers and devices: %w", err)
	}
	cfg.Dir = *dir
	if cfg.Dir == "" {
		if cfg.Dir, err = os.MkdirTemp("", "villagesync-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(cfg.Dir)
	}
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if *asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			*bench.Report
			Targets []bench.Check `json:"targets"`
		}{rep, bench.Targets(rep)})
	}
	return bench.WriteTable(out, rep)
}

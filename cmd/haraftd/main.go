// Command haraftd runs one haraft node: a sticky HTTP reverse proxy whose
// session table, server health and Elastic IP placement are replicated with
// Raft.
//
//	haraftd -config node1.yaml        run one node (SIGHUP reloads the config file live,
//	                                  SIGUSR2 hands over to the binary now on disk)
//	haraftd -check -config node1.yaml validate the config (asking Route 53 and
//	                                  servers_from sources once) and exit
//	haraftd -dev [-data DIR]          three nodes + two demo backends in one process
//	haraftd tls ca create [-dir DIR]  a cluster CA
//	haraftd tls cert create -node ID  a node's certificate from it (see haraftd tls)
//	haraftd -version                  build of this binary (module, VCS revision, Go)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/haraft/haraft/cmd/haraftd/certs"
	"github.com/haraft/haraft/cmd/haraftd/config"
	"github.com/haraft/haraft/cmd/haraftd/daemon"
	"github.com/haraft/haraft/eipmover"
	"github.com/haraft/haraft/internal/version"
)

func main() {
	eipmover.GuardMain() // a VIP guard process runs here and exits
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runContext(ctx, args, stdout, stderr, daemon.DefaultDevOptions)
}

// runContext runs haraftd until ctx is done (SIGINT, SIGTERM); devOptions
// gives -dev's options for a data dir (the README's ports, or free ones in
// tests).
func runContext(ctx context.Context, args []string, stdout, stderr io.Writer, devOptions func(dataDir string) daemon.DevOptions) int {
	if len(args) > 0 && args[0] == "tls" {
		// Certificates are made where haraftd is installed, before any
		// node runs, as consul tls does; haraftctl talks to running nodes.
		return certs.Main(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("haraftd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfgPath  = fs.String("config", "", "node config file (YAML)")
		check    = fs.Bool("check", false, "validate -config, ask Route 53 and every servers_from source once, and exit")
		dev      = fs.Bool("dev", false, "run a 3-node development cluster with two demo backends on loopback")
		dataDir  = fs.String("data", "", "-dev: data dir root (default: a new temporary dir)")
		logLevel = fs.String("log-level", "", "debug|info|warn|error (default: the config's log.level, else info)")
		logFmt   = fs.String("log-format", "", "text|json (default: the config's log.format, else text)")
		showVer  = fs.Bool("version", false, "print the build (module version, VCS revision and time, Go version) and exit")
	)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: haraftd -config FILE | -check -config FILE | -dev [-data DIR] | -version | tls ca|cert create ...\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *showVer {
		fmt.Fprintln(stdout, version.String("haraftd"))
		return 0
	}
	newLog := func(c config.Log) (*slog.Logger, bool) {
		if *logFmt != "" {
			c.Format = *logFmt
		}
		if c.Format != "" && c.Format != "text" && c.Format != "json" {
			fmt.Fprintf(stderr, "haraftd: -log-format: want text or json, got %q\n", c.Format)
			return nil, false
		}
		h, err := c.Handler(stderr, *logLevel)
		if err != nil {
			fmt.Fprintf(stderr, "haraftd: -log-level: %v\n", err)
			return nil, false
		}
		log := slog.New(h)
		routeLibraryLogs(log)
		return log, true
	}
	switch {
	case *dev:
		log, ok := newLog(config.Log{})
		if !ok {
			return 2
		}
		return runDev(ctx, *dataDir, devOptions, log, stdout, stderr)
	case *cfgPath == "":
		fs.Usage()
		return 2
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	// Started by a running haraftd on SIGUSR2 (upgrade.go): take its sockets.
	inherited, confirmUpgrade, err := inheritedListeners()
	if err != nil {
		fmt.Fprintf(stderr, "haraftd: %v\n", err)
		return 1
	}
	if *check {
		// The daemon logs the same at WARN at every start.
		for _, w := range append(cfg.SecurityWarnings(), cfg.Warnings()...) {
			fmt.Fprintf(stderr, "warning: %v\n", w)
		}
		r53ok := checkRoute53(ctx, cfg, stderr)
		if !checkServersFrom(ctx, cfg, stderr) || !r53ok {
			return 1
		}
		fmt.Fprintf(stdout, "%s: ok\n", *cfgPath)
		return 0
	}
	log, ok := newLog(cfg.Log)
	if !ok {
		return 2
	}
	opts := daemon.Options{Logger: log}
	if inherited != nil {
		opts.Listeners, opts.UpgradeWait = inherited, upgradeRaftWait
		log.Info("upgrade: took the previous process's sockets", "sockets", len(inherited))
		confirmUpgrade()
	}
	d, err := daemon.Start(cfg, opts)
	if err != nil {
		fmt.Fprintf(stderr, "haraftd: %v\n", err)
		return 1
	}
	log.Info("started", "raft", d.Node().Addr(), "ops", d.OpsAddr())
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP) // reload the config file (and TLS certificates)
	defer signal.Stop(hup)
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1) // reopen the access log file (logrotate)
	defer signal.Stop(usr1)
	usr2 := make(chan os.Signal, 1)
	signal.Notify(usr2, syscall.SIGUSR2) // binary upgrade (upgrade.go)
	defer signal.Stop(usr2)
	for ctx.Err() == nil {
		select {
		case <-usr2:
			if upgradeAndExit(d, log) {
				return 0
			}
		case <-usr1:
			if err := d.ReopenLogs(); err != nil {
				log.Error("SIGUSR1: reopening the access log failed", "err", err)
			}
		case <-hup:
			_, _, _ = d.ReloadFile(ctx) // it logs what changed, or why the file was refused
		case <-ctx.Done():
		}
	}
	log.Info("shutting down", "grace", d.ShutdownGrace())
	sctx, cancel := context.WithTimeout(context.Background(), d.ShutdownGrace())
	defer cancel()
	if err := d.Shutdown(sctx); err != nil {
		fmt.Fprintf(stderr, "haraftd: shutdown: %v\n", err)
		return 1
	}
	return 0
}

func runDev(ctx context.Context, dataDir string, devOptions func(string) daemon.DevOptions, log *slog.Logger, stdout, stderr io.Writer) int {
	if dataDir == "" {
		// A throwaway dir (it holds the dev CA's key): removed on exit.
		var err error
		if dataDir, err = os.MkdirTemp("", "haraft-dev-"); err != nil {
			fmt.Fprintf(stderr, "haraftd: %v\n", err)
			return 1
		}
		defer func() {
			if err := os.RemoveAll(dataDir); err != nil {
				log.Warn("could not remove the dev data dir", "dir", dataDir, "err", err)
			}
		}()
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	o := devOptions(dataDir)
	o.Logger = log
	c, err := daemon.StartDev(sctx, o)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return 130
		}
		fmt.Fprintf(stderr, "haraftd -dev: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "haraft dev cluster is up (data in %s)\n", dataDir)
	for i, b := range c.Backends {
		fmt.Fprintf(stdout, "  backend %s        http://%s/\n", []string{"A", "B"}[i], b.Addr())
	}
	for i, d := range c.Nodes {
		cfg := c.Configs[i]
		fmt.Fprintf(stdout, "  node %s (%s)  proxy http://%s/  ops http://%s/ (status page) /metrics /ready /healthz /status  raft %s  admin %s\n",
			cfg.Node.ID, cfg.Node.AZ, d.Frontends()[0].Addr(), d.OpsAddr(), d.Node().Addr(), d.AdminAddr())
	}
	fmt.Fprintf(stdout, "haraftctl against node 1 (mutual TLS with a throwaway dev CA, write token):\n%s", c.AdminEnv(0))
	fmt.Fprintf(stdout, "try: curl -si -c /tmp/jar http://127.0.0.1:8001/ ; curl -si -b /tmp/jar http://127.0.0.1:8002/\nCtrl-C stops the cluster.\n")
	<-ctx.Done()
	log.Info("shutting down the dev cluster")
	cctx, ccancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer ccancel()
	if err := c.Shutdown(cctx); err != nil {
		fmt.Fprintf(stderr, "haraftd -dev: shutdown: %v\n", err)
		return 1
	}
	return 0
}

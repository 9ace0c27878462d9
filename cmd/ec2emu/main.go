// Command ec2emu serves haraft's EC2 Query API emulator (package
// eipmover/ec2emu) on a loopback address, with optional IMDSv2 endpoints for
// emulated instances, so the EIP mover and the AWS CLI can be pointed at it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/haraft/haraft/eipmover/ec2emu"
)

const usage = `Usage: ec2emu [flags]

Serves an emulator of the Amazon EC2 Query API (SigV4-signed, XML) for the
Elastic IP actions AllocateAddress, AssociateAddress, DescribeAddresses,
DisassociateAddress, ReleaseAddress and a minimal DescribeInstances.

Point clients at it with, for example:
  aws ec2 describe-addresses --endpoint-url http://127.0.0.1:4566 --region us-east-1
  (aws-sdk-go-v2: ec2.Options.BaseEndpoint = "http://127.0.0.1:4566")

The same address serves a JSON admin API without authentication under /_emu/:
  GET  /_emu/state                 addresses with their associations, instances
  POST /_emu/instances             {"id","az","eni","private_ip"}
  POST /_emu/addresses             {"allocation_id","public_ip"[,"instance_id"]}
  POST /_emu/credentials           {"access_key","secret","allowed_actions":[…]}
  GET|POST /_emu/faults            {"latency":"50ms","throttle_every":N,"throttle_rate":F,
                                    "server_error_every":N,"server_error_rate":F,
                                    "error_after_commit_every":N,"error_after_commit_rate":F,
                                    "describe_lag":"1s","actions":[…]}
  GET  /_emu/associations[?since=SEQ]  every association change, with times
  GET|DELETE /_emu/stats           per-action call counts
  POST /_emu/seed                  same form as the -seed file

The -seed file is JSON:
  {"instances":[{"id":"i-1","az":"us-east-1a","eni":"eni-1","private_ip":"10.0.0.10"}],
   "addresses":[{"allocation_id":"eipalloc-1","public_ip":"198.51.100.1"}],
   "credentials":[{"access_key":"AKID","secret":"SECRET"}],
   "faults":{}}

Serve it on loopback only: the admin API has no authentication.

Flags:
`

// imdsFlag collects repeated -imds INSTANCE_ID=ADDR.
type imdsFlag []imdsEndpoint

type imdsEndpoint struct{ instanceID, addr string }

func (f *imdsFlag) String() string {
	parts := make([]string, len(*f))
	for i, e := range *f {
		parts[i] = e.instanceID + "=" + e.addr
	}
	return strings.Join(parts, ",")
}

func (f *imdsFlag) Set(s string) error {
	id, addr, ok := strings.Cut(s, "=")
	if !ok || id == "" || addr == "" {
		return fmt.Errorf("want INSTANCE_ID=ADDR, got %q", s)
	}
	*f = append(*f, imdsEndpoint{id, addr})
	return nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stderr, nil)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ec2emu:", err)
		os.Exit(1)
	}
}

// listening reports the bound addresses: the API's, and each IMDS
// endpoint's by instance ID.
type listening func(api net.Addr, imds map[string]net.Addr)

// run serves until ctx ends.
func run(ctx context.Context, args []string, stderr io.Writer, ready listening) error {
	fs := flag.NewFlagSet("ec2emu", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	listen := fs.String("listen", "127.0.0.1:4566", "`ADDR` to serve the EC2 API and /_emu/ admin API on")
	seedFile := fs.String("seed", "", "JSON `FILE` of instances, addresses, credentials and faults to start with")
	var imds imdsFlag
	fs.Var(&imds, "imds", "serve IMDSv2 for instance `INSTANCE_ID=ADDR` (repeatable)")
	region := fs.String("region", "us-east-1", "emulated `REGION` (default AZ and networkBorderGroup)")
	regions := fs.String("regions", "", "comma-separated `REGIONS` accepted in SigV4 scopes (empty: any)")
	randSeed := fs.Uint64("rand-seed", 1, "`N` seeding generated IDs and random faults")
	logLevel := fs.String("log-level", "info", "`LEVEL`: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	opts := ec2emu.Options{Region: *region, Seed: *randSeed, Logger: log}
	if *regions != "" {
		opts.Regions = strings.Split(*regions, ",")
	}
	emu := ec2emu.New(opts)
	if *seedFile != "" {
		b, err := os.ReadFile(*seedFile)
		if err != nil {
			return fmt.Errorf("-seed: %w", err)
		}
		seed, err := ec2emu.ParseSeed(b)
		if err != nil {
			return fmt.Errorf("-seed %s: %w", *seedFile, err)
		}
		if err := emu.Load(seed); err != nil {
			return fmt.Errorf("-seed %s: %w", *seedFile, err)
		}
	}

	type server struct {
		name string
		ln   net.Listener
		srv  *http.Server
	}
	var servers []server
	defer func() {
		for _, s := range servers {
			_ = s.ln.Close()
		}
	}()
	newServer := func(name, addr string, h http.Handler) error {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		servers = append(servers, server{name, ln, &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      5 * time.Minute, // injected latency may be long
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}})
		return nil
	}
	if err := newServer("ec2 api", *listen, emu); err != nil {
		return err
	}
	imdsAddrs := map[string]net.Addr{}
	for _, ep := range imds {
		if err := newServer("imds "+ep.instanceID, ep.addr, emu.IMDSHandler(ep.instanceID)); err != nil {
			return err
		}
		imdsAddrs[ep.instanceID] = servers[len(servers)-1].ln.Addr()
	}

	errc := make(chan error, len(servers))
	for _, s := range servers {
		log.Info("serving", "what", s.name, "addr", s.ln.Addr().String())
		go func() {
			if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("%s: %w", s.name, err)
			}
		}()
	}
	if ready != nil {
		ready(servers[0].ln.Addr(), imdsAddrs)
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range servers {
		if err := s.srv.Shutdown(shutCtx); err != nil {
			serveErr = errors.Join(serveErr, fmt.Errorf("shutdown %s: %w", s.name, err))
		}
	}
	log.Info("stopped")
	return serveErr
}

package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// syncBuffer is a log sink safe for the server goroutines and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const seedJSON = `{
  "instances": [{"id": "i-1", "az": "eu-west-1b", "eni": "eni-1", "private_ip": "10.0.0.10"}],
  "addresses": [{"allocation_id": "eipalloc-1", "public_ip": "198.51.100.1", "instance_id": "i-1"}],
  "credentials": [{"access_key": "AKIDCMD", "secret": "cmdsecret"}]
}`

func TestServeSeedAndIMDS(t *testing.T) {
	seed := filepath.Join(t.TempDir(), "seed.json")
	if err := os.WriteFile(seed, []byte(seedJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	var logs syncBuffer
	type addrs struct {
		api  net.Addr
		imds map[string]net.Addr
	}
	readyc := make(chan addrs, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(runCtx, []string{"-listen", "127.0.0.1:0", "-seed", seed, "-imds", "i-1=127.0.0.1:0", "-region", "eu-west-1"}, &logs,
			func(api net.Addr, imds map[string]net.Addr) { readyc <- addrs{api, imds} })
	}()
	var a addrs
	select {
	case a = <-readyc:
	case err := <-done:
		t.Fatalf("run: %v\n%s", err, logs.String())
	}

	c := ec2.New(ec2.Options{
		Region:       "eu-west-1",
		BaseEndpoint: aws.String("http://" + a.api.String()),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDCMD", "cmdsecret", ""),
	})
	out, err := c.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Addresses) != 1 || aws.ToString(out.Addresses[0].InstanceId) != "i-1" || aws.ToString(out.Addresses[0].NetworkBorderGroup) != "eu-west-1" {
		t.Fatalf("%+v", out.Addresses)
	}

	md := imds.New(imds.Options{Endpoint: "http://" + a.imds["i-1"].String()})
	region, err := md.GetRegion(ctx, &imds.GetRegionInput{})
	if err != nil || region.Region != "eu-west-1" {
		t.Fatalf("imds region: %v %v", region, err)
	}

	stop()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if l := logs.String(); !strings.Contains(l, `msg="ec2 call" action=DescribeAddresses access_key=AKIDCMD status=200`) {
		t.Fatalf("no call log in:\n%s", l)
	}
}

func TestFlagsAndErrors(t *testing.T) {
	dir := t.TempDir()
	badSeed := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(badSeed, []byte(`{"instances":[{"id":"i-1","colour":"red"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string // in the error or the output
	}{
		{"help", []string{"-h"}, "-imds INSTANCE_ID=ADDR"},
		{"bad imds", []string{"-imds", "i-1"}, "want INSTANCE_ID=ADDR"},
		{"missing seed", []string{"-seed", filepath.Join(dir, "none.json")}, "no such file"},
		{"bad seed", []string{"-seed", badSeed}, "unknown field"},
		{"bad log level", []string{"-log-level", "loud"}, "-log-level"},
		{"stray argument", []string{"serve"}, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), tt.args, &out, nil)
			if err == nil {
				t.Fatal("want an error")
			}
			if tt.name == "help" && !errors.Is(err, flag.ErrHelp) {
				t.Fatalf("help: %v", err)
			}
			if !strings.Contains(err.Error()+out.String(), tt.want) {
				t.Fatalf("got %v\n%s", err, out.String())
			}
		})
	}
}

package certs

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// File names the CLI writes in a CA directory.
const (
	CAFile    = "ca.pem"
	CAKeyFile = "ca-key.pem"
)

const cliUsage = `usage:
  haraftd tls ca create [-dir DIR] [-days 1825] [-name NAME]
      a cluster CA: DIR/ca.pem (give it to every node: raft.tls.ca_file)
      and DIR/ca-key.pem (keep it off the nodes)
  haraftd tls cert create -node ID [-ca DIR] [-dir DIR] [-ip IP]... [-dns NAME]... [-days 365]
      node ID's certificate, DIR/ID.pem and DIR/ID-key.pem (raft.tls.cert_file,
      key_file); its identity is the URI SAN spiffe://haraft/node/ID, and the
      cluster port accepts it only as node ID. -ip/-dns add names for clients
      that check host names (haraftctl against admin.tls); with none:
      localhost, 127.0.0.1, ::1
  haraftd tls cert create -client NAME [-ca DIR] [-dir DIR] [-days 365]
      an admin client's certificate (haraftctl, HARAFT_CERT/HARAFT_KEY):
      no node identity, so the cluster port refuses it
`

// Main runs `haraftd tls ...` with args after "tls" and returns the exit
// status.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) < 2 {
		fmt.Fprint(stderr, cliUsage)
		return 2
	}
	var err error
	switch args[0] + " " + args[1] {
	case "ca create":
		err = caCreate(args[2:], stdout, stderr)
	case "cert create":
		err = certCreate(args[2:], stdout, stderr)
	default:
		fmt.Fprint(stderr, cliUsage)
		return 2
	}
	var usage usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &usage):
		if usage.msg != "" {
			fmt.Fprintf(stderr, "haraftd tls: %s\n", usage.msg)
		}
		fmt.Fprint(stderr, cliUsage)
		return 2
	default:
		fmt.Fprintf(stderr, "haraftd tls: %v\n", err)
		return 1
	}
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func flags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("haraftd tls "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {}
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return usageError{}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

// notThere refuses to overwrite: a CA key or a node key replaced by
// mistake cannot be had back.
func notThere(paths ...string) error {
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("%s exists: refusing to overwrite it (move it away first)", p)
		}
	}
	return nil
}

func caCreate(args []string, stdout, stderr io.Writer) error {
	fs := flags("ca create", stderr)
	dir := fs.String("dir", ".", "directory to write ca.pem and ca-key.pem into")
	days := fs.Int("days", 5*365, "validity in days")
	name := fs.String("name", "haraft cluster CA", "the CA's common name")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *days < 1 {
		return usageError{"-days must be at least 1"}
	}
	certPath, keyPath := filepath.Join(*dir, CAFile), filepath.Join(*dir, CAKeyFile)
	if err := notThere(certPath, keyPath); err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	ca, err := NewCA(*name, time.Duration(*days)*24*time.Hour)
	if err != nil {
		return err
	}
	if err := ca.WriteKey(keyPath); err != nil {
		return err
	}
	if _, err := ca.WriteCA(*dir, CAFile); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (the cluster CA: raft.tls.ca_file on every node)\nwrote %s (its key: keep it off the nodes)\n", certPath, keyPath)
	return nil
}

// list is a repeatable string flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func certCreate(args []string, stdout, stderr io.Writer) error {
	fs := flags("cert create", stderr)
	node := fs.String("node", "", "the node id (node.id) the certificate names")
	client := fs.String("client", "", "an admin client's name (instead of -node)")
	caDir := fs.String("ca", "", "directory holding ca.pem and ca-key.pem (default: -dir)")
	dir := fs.String("dir", ".", "directory to write the certificate and key into")
	days := fs.Int("days", 365, "validity in days (at most the CA's)")
	var ips, dnss list
	fs.Var(&ips, "ip", "an IP address SAN (repeatable)")
	fs.Var(&dnss, "dns", "a DNS name SAN (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case (*node == "") == (*client == ""):
		return usageError{"give -node ID or -client NAME"}
	case *days < 1:
		return usageError{"-days must be at least 1"}
	}
	if *caDir == "" {
		*caDir = *dir
	}
	ca, err := LoadCA(filepath.Join(*caDir, CAFile), filepath.Join(*caDir, CAKeyFile))
	if err != nil {
		return err
	}
	name := *node + *client
	if err := notThere(filepath.Join(*dir, name+".pem"), filepath.Join(*dir, name+"-key.pem")); err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	notAfter := time.Now().Add(time.Duration(*days) * 24 * time.Hour)
	var f Files
	if *node != "" {
		f, err = ca.issueNode(*dir, *node, notAfter, append(ips, dnss...))
	} else {
		f, err = ca.issue(*dir, *client, nil, len(ips)+len(dnss) == 0, notAfter, append(ips, dnss...))
	}
	if err != nil {
		return err
	}
	what := "node " + *node + " (identity spiffe://haraft/node/" + *node + ")"
	if *client != "" {
		what = "admin client " + *client + " (no node identity)"
	}
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	fmt.Fprintf(stdout, "wrote %s and %s: %s, valid until %s\n", f.Cert, f.Key, what, notAfter.UTC().Format(time.DateOnly))
	return nil
}

package daemon

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/haraft/haraft/cmd/haraftd/certs"
	"github.com/haraft/haraft/cmd/haraftd/config"
)

// DevSecurity is what a dev cluster generated to secure itself: a
// throwaway CA whose certificates make the cluster port and the admin
// listeners mutual TLS, and a write and a read admin token.
type DevSecurity struct {
	TLS        *certs.Dev
	WriteToken string
	ReadToken  string
}

func randomToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// prepareSecurity generates the dev CA, certificates and tokens under the
// data dir (regenerated at every start; nothing else trusts them).
func (c *DevCluster) prepareSecurity() error {
	if c.opts.Plain {
		return nil
	}
	dir := filepath.Join(c.opts.DataDir, "tls")
	tlsFiles, err := certs.GenerateDev(dir, []string{"n1", "n2", "n3"})
	if err != nil {
		return fmt.Errorf("dev CA: %w", err)
	}
	sec := &DevSecurity{TLS: tlsFiles}
	for _, t := range []struct {
		dst  *string
		file string
	}{{&sec.WriteToken, "write.token"}, {&sec.ReadToken, "read.token"}} {
		if *t.dst, err = randomToken(); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, t.file), []byte(*t.dst+"\n"), 0o600); err != nil {
			return fmt.Errorf("dev token: %w", err)
		}
	}
	c.Security = sec
	return nil
}

// secureNode adds node i's admin listener, and with security its TLS and
// tokens, to its config.
func (c *DevCluster) secureNode(cfg *config.Config, i int) {
	cfg.Admin.Addr = portAddr(c.opts.AdminPort, i)
	sec := c.Security
	if sec == nil {
		return
	}
	n := sec.TLS.Nodes[cfg.Node.ID]
	cfg.Raft.TLS = &config.TLS{CAFile: n.CA, CertFile: n.Cert, KeyFile: n.Key}
	cfg.Admin.TLS = &config.TLS{CAFile: n.CA, CertFile: n.Cert, KeyFile: n.Key}
	cfg.Admin.Tokens = []config.Token{
		{Name: "dev-write", Role: config.RoleWrite, SecretFile: filepath.Join(sec.TLS.Dir, "write.token")},
		{Name: "dev-read", Role: config.RoleRead, SecretFile: filepath.Join(sec.TLS.Dir, "read.token")},
	}
}

// AdminEnv returns the shell lines that point haraftctl at node i's admin
// API with the dev cluster's write token and client certificate.
func (c *DevCluster) AdminEnv(i int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "export HARAFT_ADDR=%s\n", c.Configs[i].Admin.Addr)
	if sec := c.Security; sec != nil {
		fmt.Fprintf(&b, "export HARAFT_TOKEN=%s  # read-only: %s\n", sec.WriteToken, sec.ReadToken)
		fmt.Fprintf(&b, "export HARAFT_CA=%s HARAFT_CERT=%s HARAFT_KEY=%s\n", sec.TLS.CA, sec.TLS.Client.Cert, sec.TLS.Client.Key)
	}
	return b.String()
}

package config

import (
	"fmt"
)

// Admin is the admin gRPC listener (haraftctl, grpcurl) and who may use it.
type Admin struct {
	Addr string `yaml:"addr"`          // host:port; empty: the node serves no admin API
	TLS  *TLS   `yaml:"tls,omitempty"` // required unless addr is loopback or insecure is set; with ca_file, clients must present a certificate it signed (mTLS)
	// Insecure allows a plaintext admin API on an address that is not
	// loopback: bearer tokens (and, to write tokens, session keys) then
	// cross the network in clear. haraftd warns at every start.
	Insecure bool    `yaml:"insecure,omitempty"`
	Tokens   []Token `yaml:"tokens,omitempty"` // bearer tokens; none: reads are open and writes refused
}

// Token is one bearer token of the admin API.
type Token struct {
	Name       string `yaml:"name"`        // required, unique; names the caller in logs
	Role       string `yaml:"role"`        // required: read (status and lists) | write (everything)
	Secret     string `yaml:"secret"`      // the token, at least 16 characters; or:
	SecretFile string `yaml:"secret_file"` // a file whose first line is the token (read at start)
}

// TLS names the PEM files of this node's certificate and key and of the CA
// that signed the certificates it accepts from its peers (raft.tls, mutual
// TLS on the cluster port) or its clients (admin.tls).
type TLS struct {
	CAFile   string `yaml:"ca_file"`   // required in raft.tls; optional in admin.tls
	CertFile string `yaml:"cert_file"` // required
	KeyFile  string `yaml:"key_file"`  // required
}

// Token roles.
const (
	RoleRead  = "read"
	RoleWrite = "write"
)

var roles = []string{RoleRead, RoleWrite}

// MinSecretLen is the shortest token secret accepted inline in the file.
const MinSecretLen = 16

func (v *validator) tls(path string, t *TLS, caRequired string) {
	if t == nil {
		return
	}
	if t.CAFile == "" && caRequired != "" {
		v.errf(path+".ca_file", "required: %s", caRequired)
	}
	v.required(path+".cert_file", t.CertFile)
	v.required(path+".key_file", t.KeyFile)
}

func (v *validator) admin(a *Admin) {
	configured := a.TLS != nil || len(a.Tokens) > 0
	if a.Addr == "" {
		if configured {
			v.errf("admin.addr", "required when admin.tls or admin.tokens is set")
		}
	} else {
		v.addr("admin.addr", a.Addr, listenAddr)
		if a.TLS == nil && !a.Insecure && !loopbackAddr(a.Addr) {
			v.errf("admin.tls", "required: admin.addr %q is not a loopback address, and without TLS the bearer tokens of every call "+
				"(and the session keys a write token lists) cross the network in clear; set admin.tls, bind admin.addr to 127.0.0.1, "+
				"or set admin.insecure: true to run without", a.Addr)
		}
	}
	if a.Insecure && a.TLS != nil {
		v.errf("admin.insecure", "true contradicts admin.tls (the admin API speaks TLS): remove one")
	}
	v.tls("admin.tls", a.TLS, "")
	names := map[string]int{}
	secrets := map[string]int{}
	for i, t := range a.Tokens {
		p := fmt.Sprintf("admin.tokens[%d]", i)
		if v.required(p+".name", t.Name) {
			if j, dup := names[t.Name]; dup {
				v.errf(p+".name", "duplicate token name %q (also admin.tokens[%d])", t.Name, j)
			} else {
				names[t.Name] = i
			}
		}
		v.enum(p+".role", t.Role, roles)
		switch {
		case t.Secret == "" && t.SecretFile == "":
			v.errf(p+".secret", "required: set secret or secret_file")
		case t.Secret != "" && t.SecretFile != "":
			v.errf(p+".secret_file", "set either secret or secret_file, not both")
		case t.Secret != "" && len(t.Secret) < MinSecretLen:
			v.errf(p+".secret", "too short (%d characters): use at least %d, e.g. `openssl rand -hex 16`", len(t.Secret), MinSecretLen)
		case t.Secret != "":
			if j, dup := secrets[t.Secret]; dup {
				v.errf(p+".secret", "same secret as admin.tokens[%d]: every token needs its own", j)
			} else {
				secrets[t.Secret] = i
			}
		}
	}
}

// loopbackAddr reports whether a listen address is on loopback only; an
// address that does not parse counts as loopback (its own check reports
// it).
func loopbackAddr(addr string) bool {
	h, err := parseAddr(addr, listenAddr)
	return err != nil || isLoopbackHost(h)
}

// adminWarnings: a plaintext admin API on the network, allowed by
// admin.insecure.
func (c *Config) adminWarnings(file string) Errors {
	a := c.Admin
	if a.Addr == "" || a.TLS != nil || !a.Insecure || loopbackAddr(a.Addr) {
		return nil
	}
	return Errors{&Error{File: file, Line: lineOf(c.lines, "admin.insecure"), Field: "admin.insecure",
		Reason: fmt.Sprintf("the admin API on %s speaks plaintext gRPC: bearer tokens cross the network in clear, and whoever reads one can use it; set admin.tls", a.Addr)}}
}

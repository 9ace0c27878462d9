package config

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// Admin is the admin gRPC listener (haraftctl, grpcurl) and who may use it.
type Admin struct {
	Addr   string  `yaml:"addr"`             // host:port; empty: the node serves no admin API
	TLS    *TLS    `yaml:"tls,omitempty"`    // optional; with ca_file, clients must present a certificate it signed (mTLS)
	Tokens []Token `yaml:"tokens,omitempty"` // bearer tokens; none: reads are open and writes refused
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

func (d *decoder) admin(path string, v *yaml.Node, a *Admin) {
	d.mapping(path, v, []field{
		{"addr", d.str(&a.Addr)},
		{"tls", d.tlsPtr(&a.TLS)},
		{"tokens", seq(d, &a.Tokens, func() Token { return Token{} }, func(p string, v *yaml.Node, t *Token) {
			d.mapping(p, v, []field{
				{"name", d.str(&t.Name)},
				{"role", d.str(&t.Role)},
				{"secret", d.str(&t.Secret)},
				{"secret_file", d.str(&t.SecretFile)},
			})
		})},
	})
}

// tlsPtr decodes an optional tls mapping; null leaves it nil.
func (d *decoder) tlsPtr(dst **TLS) func(string, *yaml.Node) {
	return func(p string, v *yaml.Node) {
		if isNull(resolve(v)) {
			*dst = nil
			return
		}
		t := &TLS{}
		d.mapping(p, v, []field{
			{"ca_file", d.str(&t.CAFile)},
			{"cert_file", d.str(&t.CertFile)},
			{"key_file", d.str(&t.KeyFile)},
		})
		*dst = t
	}
}

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

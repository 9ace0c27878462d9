package config

import (
	"reflect"
	"testing"
)

func TestFrontendTLS(t *testing.T) {
	y := edit(t, "    backend: app\n", `    backend: app
  - name: web-tls
    bind: 127.0.0.1:8443
    backend: app
    tls:
      certs:
        - {cert_file: /etc/haraft/www.pem, key_file: /etc/haraft/www-key.pem}
        - {cert_file: /etc/haraft/api.pem, key_file: /etc/haraft/api-key.pem}
      min_version: "1.3"
`)
	c, err := Parse("t.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	want := []Frontend{
		{Name: "web", Bind: "127.0.0.1:8001", Backend: "app"},
		{Name: "web-tls", Bind: "127.0.0.1:8443", Backend: "app", TLS: &FrontendTLS{
			Certs: []CertKey{
				{CertFile: "/etc/haraft/www.pem", KeyFile: "/etc/haraft/www-key.pem"},
				{CertFile: "/etc/haraft/api.pem", KeyFile: "/etc/haraft/api-key.pem"},
			},
			MinVersion: "1.3",
		}},
	}
	if !reflect.DeepEqual(c.Frontends, want) {
		t.Fatalf("got %+v", c.Frontends)
	}
	// tls: null is no TLS.
	c, err = Parse("t.yaml", []byte(edit(t, "    backend: app\n", "    backend: app\n    tls: ~\n")))
	if err != nil || c.Frontends[0].TLS != nil {
		t.Fatalf("tls: ~ gave %+v, %v", c.Frontends[0].TLS, err)
	}
}

func TestFrontendTLSErrors(t *testing.T) {
	for _, tc := range []struct {
		name, tls string
		want      []string
	}{
		{"no certs", "    tls: {min_version: \"1.2\"}\n", []string{
			`t.yaml:17: frontends[0].tls.certs: required: at least one {cert_file, key_file}`,
		}},
		{"empty certs", "    tls: {certs: []}\n", []string{
			`t.yaml:17: frontends[0].tls.certs: required: at least one {cert_file, key_file}`,
		}},
		{"missing key", "    tls:\n      certs:\n        - {cert_file: /a.pem, key_file: /a-key.pem}\n        - {cert_file: /b.pem}\n", []string{
			`t.yaml:20: frontends[0].tls.certs[1].key_file: required`,
		}},
		{"bad version", "    tls:\n      certs: [{cert_file: /a.pem, key_file: /a-key.pem}]\n      min_version: TLSv1.2\n", []string{
			`t.yaml:19: frontends[0].tls.min_version: invalid value "TLSv1.2" (allowed: 1.0, 1.1, 1.2, 1.3)`,
		}},
		{"unknown field", "    tls: {certs: [{cert_file: /a.pem, key_file: /a-key.pem}], crt: /x.pem}\n", []string{
			`t.yaml:17: frontends[0].tls.crt: unknown field (known: certs, min_version)`,
		}},
		{"unknown cert field", "    tls: {certs: [{cert: /a.pem, key_file: /a-key.pem}]}\n", []string{
			`t.yaml:17: frontends[0].tls.certs[0].cert: unknown field (known: cert_file, key_file)`,
			`t.yaml:17: frontends[0].tls.certs[0].cert_file: required`,
		}},
		{"not a mapping", "    tls: yes\n", []string{
			`t.yaml:17: frontends[0].tls: expected a mapping`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.yaml", []byte(edit(t, "    backend: app\n", "    backend: app\n"+tc.tls)))
			if c != nil {
				t.Errorf("config returned along with errors")
			}
			checkErrors(t, err, tc.want)
		})
	}
}

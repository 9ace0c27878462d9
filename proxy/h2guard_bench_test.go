package proxy

import (
	"bytes"
	"io"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/haraft/haraft/proxy/accesslog"
)

// BenchmarkTLSFrontendHTTP2 measures requests through the TLS frontend
// over HTTP/2 (one client connection, parallel streams): GET carries the
// header-block path, POST a 16 KiB body through the DATA path. The
// log=file variants write the access log (httplog) to a file: their
// allocs/op less the others' are what the log costs per request (the
// client and the backend run in the same process and count too).
func BenchmarkTLSFrontendHTTP2(b *testing.B) {
	ca := newTestCA(b)
	pair, _ := ca.issue(b, b.TempDir(), "web", "www.example.com")
	srv := startBackend(b, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = w.Write([]byte("ok\n"))
	})
	t, err := accesslog.ParseTarget(filepath.Join(b.TempDir(), "access.log"))
	if err != nil {
		b.Fatal(err)
	}
	w, err := accesslog.NewWriter(accesslog.Options{Target: t, Log: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = w.Close() })
	for _, log := range []struct {
		name string
		l    accesslog.Logger
	}{{"off", nil}, {"file", w}} {
		f, _ := startTLSProxy(b, tlsProxyOpts{proxyOpts: proxyOpts{accessLog: log.l}, certs: []CertPair{pair}}, srv)
		benchmarkHTTP2(b, "log="+log.name+"/", f, ca)
	}
}

func benchmarkHTTP2(b *testing.B, prefix string, f *TLSFrontend, ca *testCA) {
	url := "https://" + f.Addr().String() + "/bench"
	c := tlsClient(b, ca, "www.example.com", false)
	body := bytes.Repeat([]byte("x"), 16<<10)
	for _, method := range []string{"GET", "POST"} {
		b.Run(prefix+method, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			if method == "GET" {
				b.SetBytes(0)
			}
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					var rd io.Reader
					if method == "POST" {
						rd = bytes.NewReader(body)
					}
					req, err := http.NewRequest(method, url, rd)
					if err != nil {
						b.Error(err)
						return
					}
					req.Header.Set("User-Agent", "haraft-bench/1.0")
					req.Header.Set("Accept", "text/html,application/xhtml+xml")
					req.Header.Set("Cookie", "session=0123456789abcdef; theme=dark")
					resp, err := c.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.ProtoMajor != 2 || resp.StatusCode != 200 {
						b.Errorf("%s %d", resp.Proto, resp.StatusCode)
						return
					}
				}
			})
		})
	}
}

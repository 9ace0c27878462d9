package proxy

import (
	"bytes"
	"io"
	"net/http"
	"testing"
)

// BenchmarkTLSFrontendHTTP2 measures requests through the TLS frontend
// over HTTP/2 (one client connection, parallel streams): GET carries the
// header-block path, POST a 16 KiB body through the DATA path.
func BenchmarkTLSFrontendHTTP2(b *testing.B) {
	ca := newTestCA(b)
	pair, _ := ca.issue(b, b.TempDir(), "web", "www.example.com")
	srv := startBackend(b, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = w.Write([]byte("ok\n"))
	})
	f, _ := startTLSProxy(b, tlsProxyOpts{certs: []CertPair{pair}}, srv)
	url := "https://" + f.Addr().String() + "/bench"
	c := tlsClient(b, ca, "www.example.com", false)
	body := bytes.Repeat([]byte("x"), 16<<10)
	for _, method := range []string{"GET", "POST"} {
		b.Run(method, func(b *testing.B) {
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

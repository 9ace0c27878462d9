package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/haraft/haraft/cmd/haraftd/config"
	"github.com/haraft/haraft/proxy"
)

// Frontend is one listener of the node: the HTTP/1.1 engine's
// (*proxy.Frontend) or, for a frontend with a tls section, a TLS one
// speaking HTTP/2 and HTTP/1.1 (*proxy.TLSFrontend), or for mode tcp the TCP
// engine's (*proxy.TCPFrontend).
type Frontend interface {
	Addr() net.Addr
	Serve() error
	Shutdown(ctx context.Context) error
	Stats() proxy.FrontendStats
	Rejects() []proxy.RejectCount
	Latency() proxy.LatencySnapshot
	Connections() proxy.ConnStats
	Traffic() proxy.Traffic
	ProxyProtocolErrors() []uint64
}

var (
	_ Frontend = (*proxy.Frontend)(nil)
	_ Frontend = (*proxy.TLSFrontend)(nil)
	_ Frontend = (*proxy.TCPFrontend)(nil)
)

// newFrontend builds frontends[i] of cfg on ln, the handle of its socket
// (listenmux.go). A certificate that cannot be loaded fails the start (or
// the reload) with the file named.
func (d *Daemon) newFrontend(cfg *config.Config, backends map[string]*proxy.Backend, i int, fc config.Frontend, ln net.Listener) (Frontend, error) {
	o := proxy.FrontendOptions{
		Name: fc.Name, Bind: fc.Bind, Listener: ln, Backend: backends[fc.Backend], Timeouts: timeouts(cfg),
		Redispatch: backendConfig(cfg, fc.Backend).Option(config.OptionRedispatch),
		MaxConn:    fc.MaxConn, Global: d.conns, AccessLog: d.frontendAccessLog(fc),
	}
	if fc.AcceptProxy {
		o.AcceptProxy = &proxy.AcceptProxy{From: fc.AcceptProxyPrefixes()}
	}
	if fc.Mode == config.ModeTCP {
		return proxy.NewTCPFrontend(o, d.fsm, d.learner, d.log)
	}
	if fc.TLS == nil {
		return proxy.NewFrontend(o, d.fsm, d.learner, d.log)
	}
	pairs := make([]proxy.CertPair, len(fc.TLS.Certs))
	for j, ck := range fc.TLS.Certs {
		pairs[j] = proxy.CertPair{CertFile: ck.CertFile, KeyFile: ck.KeyFile}
	}
	minVersion, err := proxy.ParseTLSVersion(fc.TLS.MinVersion)
	if err != nil {
		return nil, fmt.Errorf("%s: frontends[%d].tls.min_version: %w", cfg.File, i, err)
	}
	store, err := proxy.NewCertStore(pairs, d.log.With("frontend", fc.Name))
	if err != nil {
		return nil, fmt.Errorf("%s: frontends[%d].tls: %w", cfg.File, i, err)
	}
	return proxy.NewTLSFrontend(proxy.TLSFrontendOptions{FrontendOptions: o, Certs: store, MinVersion: minVersion}, d.fsm, d.learner, d.log)
}

// Reload reads the certificate files of every TLS frontend again (dev
// mode; haraftd's SIGHUP calls ReloadFile, which also does). New
// connections get the new certificates; the connections already open are
// not touched. A frontend whose files cannot be loaded keeps serving the
// certificates it had; the error names them.
func (d *Daemon) Reload() error {
	var errs []error
	n := 0
	for _, lf := range d.live().frontends {
		tf, ok := lf.f.(*proxy.TLSFrontend)
		if !ok {
			continue
		}
		n++
		if err := tf.Reload(); err != nil {
			errs = append(errs, fmt.Errorf("frontend %s: %w", lf.fc.Name, err))
		}
	}
	d.log.Info("reload", "tls_frontends", n, "failed", len(errs))
	return errors.Join(errs...)
}

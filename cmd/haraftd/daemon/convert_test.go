package daemon

import (
	"slices"
	"testing"

	"github.com/haraft/haraft/cmd/haraftd/config"
	"github.com/haraft/haraft/proxy"
)

// Every cookie mode a config may name is one of the proxy's, and the other
// way round: the config's list of names is the only place besides the
// mode's own file that a new mode touches, and this says when they differ.
func TestCookieModesAreTheProxys(t *testing.T) {
	cfg, want := config.CookieModes(), proxy.CookieModes()
	slices.Sort(cfg)
	if !slices.Equal(cfg, want) {
		t.Fatalf("config cookie modes %v, proxy cookie modes %v", cfg, want)
	}
	for _, m := range cfg {
		b := config.Backend{Name: "app", Cookie: &config.Cookie{Name: "C", Mode: m}, Servers: []config.Server{{Name: "A", Addr: "127.0.0.1:1"}}}
		if _, err := proxy.NewBackend(backendOptions(&config.Config{}, b)); err != nil {
			t.Errorf("mode %s: %v", m, err)
		}
	}
	b := config.Backend{Name: "app", Cookie: &config.Cookie{Name: "C", Mode: "nope"}, Servers: []config.Server{{Name: "A", Addr: "127.0.0.1:1"}}}
	if _, err := proxy.NewBackend(backendOptions(&config.Config{}, b)); err == nil {
		t.Error("an unknown cookie mode built a backend")
	}
}

package proxy

import (
	"context"
	"net/netip"
	"time"
)

// StickOptions configure stickiness on the client's source address
// (HAProxy's `stick on src` with a peers table). A binding address → server
// is a learned session of the backend keyed "src:<ip>": it is proposed in
// the learner's batches, replicated, kept in snapshots, expired by the
// leader's clock (Expire as maxidle), and reassigned by rendezvous hashing
// when its server is agreed down or in maintenance, exactly as learned
// cookies are. Two nodes binding one address at once end with the binding
// committed first, everywhere.
type StickOptions struct {
	Expire time.Duration // idle longer than this, by the leader's clock, and the binding is dropped; 0: never
}

// sessions returns the learned-session policy that holds the bindings.
func (o *StickOptions) sessions() *CookieOptions {
	return &CookieOptions{Mode: ModeLearn, MaxIdle: o.Expire}
}

// srcKey returns the session key of a client address, and false when the
// address is not an IP address (such a client is balanced, not stuck).
func srcKey(client string) (string, bool) {
	a, err := netip.ParseAddr(client)
	if err != nil {
		return "", false
	}
	return "src:" + a.Unmap().String(), true
}

// routeSrc routes a connection of client: to its bound server when the
// address is known (or to the rendezvous choice when that server may not
// keep sessions), else balanced. learn is the key to learn once the
// connection is routed ("" when the route came from a binding).
func (b *Backend) routeSrc(st State, l *Learner, client string) (r route, learn string, err error) {
	key, ok := srcKey(client)
	if ok && b.stickSrc {
		table := st.Servers()
		set := b.setFor(table)
		done, err := b.routeByCookie(&r, key, st, l, table, set, nil)
		if err != nil {
			return r, "", err
		}
		if done {
			return r, "", nil
		}
	}
	r, err = b.route(st, l, nil, client)
	if err != nil || !ok || !b.stickSrc {
		return r, "", err
	}
	return r, key, nil
}

// learnSrc hands a new binding of key to server to the learner (never
// waiting: the connection does not wait for its commit).
func (s *listenerStats) learnSrc(l *Learner, b *Backend, server, key string) {
	if key == "" || l == nil {
		return
	}
	_ = s.learnKeys(context.Background(), l, b, 0, server, []string{key})
}

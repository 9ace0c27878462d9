package proxy

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sync/atomic"
)

// Balancer picks a server for a request that no cookie binds (HAProxy's
// `balance`). Candidates are the usable servers, in configuration order;
// client is the client's IP address (for `source`).
type Balancer interface {
	Pick(candidates []*Server, client string) *Server
}

// NewBalancer returns the balancer for a `balance` keyword.
func NewBalancer(name string) (Balancer, error) {
	switch name {
	case "", "roundrobin":
		return &roundRobin{}, nil
	case "leastconn":
		return leastConn{}, nil
	case "source":
		return source{}, nil
	case "random":
		return randomTwo{}, nil
	default:
		return nil, fmt.Errorf("balance %q is not supported (supported: roundrobin, leastconn, source, random)", name)
	}
}

// leastConn picks the server with the fewest active requests relative to
// its weight; ties go round the list in order.
type leastConn struct{}

func (leastConn) Pick(c []*Server, _ string) *Server {
	var best *Server
	var bestLoad float64
	for _, s := range c {
		if s.Weight == 0 && best != nil {
			continue
		}
		load := float64(s.Active()+1) / float64(max(s.Weight, 1))
		if best == nil || load < bestLoad || (best.Weight == 0 && s.Weight > 0) {
			best, bestLoad = s, load
		}
	}
	return best
}

// source hashes the client address over the weighted candidates, so a
// client keeps its server while the candidate set does not change.
type source struct{}

func (source) Pick(c []*Server, client string) *Server {
	if len(c) == 0 {
		return nil
	}
	h := fnv.New64a()
	h.Write([]byte(client))
	return weightedSlot(c, mix64(h.Sum64()))
}

// randomTwo is HAProxy's `balance random(2)`: power of two choices — draw
// two servers by weight, keep the less loaded.
type randomTwo struct{}

func (randomTwo) Pick(c []*Server, _ string) *Server {
	if len(c) == 0 {
		return nil
	}
	a, b := weightedSlot(c, rand.Uint64()), weightedSlot(c, rand.Uint64())
	if b.Active()*int64(max(a.Weight, 1)) < a.Active()*int64(max(b.Weight, 1)) {
		return b
	}
	return a
}

// weightedSlot maps n onto the candidates in proportion to their weights
// (equally when every weight is 0).
func weightedSlot(c []*Server, n uint64) *Server {
	total := 0
	for _, s := range c {
		total += s.Weight
	}
	if total == 0 {
		return c[n%uint64(len(c))]
	}
	slot := int(n % uint64(total))
	for _, s := range c {
		if slot < s.Weight {
			return s
		}
		slot -= s.Weight
	}
	return c[len(c)-1]
}

// roundRobin is weighted round robin: each server gets a share of picks
// proportional to its weight (weight 0 servers get none unless all are 0).
type roundRobin struct{ next atomic.Uint64 }

func (r *roundRobin) Pick(c []*Server, _ string) *Server {
	if len(c) == 0 {
		return nil
	}
	return weightedSlot(c, r.next.Add(1)-1)
}

// Rendezvous returns the server with the highest hash of (session key,
// server name) among the candidates: highest-random-weight hashing. Every
// node computes the same answer from the same agreed candidate set, with no
// round trip, and only the sessions of a removed server move.
func Rendezvous(key string, candidates []*Server) *Server {
	var best *Server
	var bestScore uint64
	for _, s := range candidates {
		h := fnv.New64a()
		h.Write([]byte(key))
		h.Write([]byte{0})
		h.Write([]byte(s.Name))
		score := mix64(h.Sum64())
		if best == nil || score > bestScore || (score == bestScore && s.Name < best.Name) {
			best, bestScore = s, score
		}
	}
	return best
}

// mix64 is the splitmix64 finaliser, spreading FNV's weak low bits.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

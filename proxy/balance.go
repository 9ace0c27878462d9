package proxy

import (
	"fmt"
	"hash/fnv"
	"sync/atomic"
)

// Balancer picks a server for a request that no cookie binds (HAProxy's
// `balance`). Candidates are the usable servers, in configuration order.
type Balancer interface {
	Pick(candidates []*Server) *Server
}

// NewBalancer returns the balancer for a `balance` keyword.
func NewBalancer(name string) (Balancer, error) {
	switch name {
	case "", "roundrobin":
		return &roundRobin{}, nil
	default:
		return nil, fmt.Errorf("balance %q is not supported yet (supported: roundrobin)", name)
	}
}

// roundRobin is weighted round robin: each server gets a share of picks
// proportional to its weight (weight 0 servers get none unless all are 0).
type roundRobin struct{ next atomic.Uint64 }

func (r *roundRobin) Pick(c []*Server) *Server {
	if len(c) == 0 {
		return nil
	}
	total := 0
	for _, s := range c {
		total += s.Weight
	}
	n := r.next.Add(1) - 1
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

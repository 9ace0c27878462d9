package fsm

import (
	"cmp"
	"container/heap"
	"slices"

	"github.com/haraft/haraft/proto/fsmpb"
)

// SessionFilter selects sessions for SessionsPage. Empty fields match all.
type SessionFilter struct {
	Backend string
	Server  string
}

func (f SessionFilter) match(k SessionKey, server string) bool {
	return (f.Backend == "" || f.Backend == k.Backend) && (f.Server == "" || f.Server == server)
}

func compareKeys(a, b SessionKey) int {
	return cmp.Or(cmp.Compare(a.Backend, b.Backend), cmp.Compare(a.Key, b.Key))
}

// SessionsPage returns up to limit bindings matching f, in (backend, key)
// order, starting after the session named by after (the zero key starts at
// the beginning), and whether more follow. It walks the table once with a
// bounded heap (O(n log limit)), so paging a large table costs one scan per
// page and never copies it whole.
func (s *State) SessionsPage(f SessionFilter, after SessionKey, limit int) (page []*fsmpb.Binding, more bool) {
	if limit <= 0 {
		return nil, false
	}
	h := &keyHeap{}
	matched := 0
	s.mu.RLock()
	for backend, t := range s.sessions {
		if f.Backend != "" && f.Backend != backend {
			continue
		}
		t.each(func(key string, b binding) bool {
			k := SessionKey{backend, key}
			if !f.match(k, s.names[b.server]) || (after != SessionKey{} && compareKeys(k, after) <= 0) {
				return true
			}
			matched++
			if h.Len() < limit {
				heap.Push(h, k)
			} else if compareKeys(k, (*h)[0]) < 0 {
				(*h)[0] = k
				heap.Fix(h, 0)
			}
			return true
		})
	}
	keys := slices.Clone(*h)
	slices.SortFunc(keys, compareKeys)
	page = make([]*fsmpb.Binding, 0, len(keys))
	for _, k := range keys {
		b, _ := s.getSession(k.Backend, k.Key)
		page = append(page, &fsmpb.Binding{Backend: k.Backend, Key: k.Key, Server: s.names[b.server], CreatedUnixMs: b.created, LearnedBy: s.names[b.learnedBy]})
	}
	s.mu.RUnlock()
	return page, matched > len(page)
}

// keyHeap is a max-heap of session keys: its root is the largest key kept.
type keyHeap []SessionKey

func (h keyHeap) Len() int           { return len(h) }
func (h keyHeap) Less(i, j int) bool { return compareKeys(h[i], h[j]) > 0 }
func (h keyHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *keyHeap) Push(x any)        { *h = append(*h, x.(SessionKey)) }
func (h *keyHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

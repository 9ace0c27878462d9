package daemon

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// getStatus reads a node's /status?cluster=1.
func getStatus(t *testing.T, opsAddr string) Status {
	t.Helper()
	var st Status
	if err := json.Unmarshal([]byte(httpGet(t, "http://"+opsAddr+"/status?cluster=1")), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// sendRequests makes n requests through d's web frontend.
func sendRequests(t *testing.T, d *Daemon, n int) {
	t.Helper()
	url := "http://" + d.Frontends()[0].Addr().String() + "/"
	for range n {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

func nodeRow(ct *ClusterTraffic, id string) (NodeTraffic, bool) {
	for _, n := range ct.Nodes {
		if n.Node == id {
			return n, true
		}
	}
	return NodeTraffic{}, false
}

// TestClusterTraffic: node 1's /status and page count the requests sent
// through nodes 2 and 3 (asked over the cluster port), page refreshes
// share one round of calls, and a stopped member is listed as unreachable
// with the totals marked partial, not counted as zero.
func TestClusterTraffic(t *testing.T) {
	c := opsTestCluster(t)
	sent := map[string]uint64{"n1": 3, "n2": 5, "n3": 7}
	for i, d := range c.Nodes {
		sendRequests(t, d, int(sent[c.Configs[i].Node.ID]))
	}
	n1 := c.Nodes[0].OpsAddr()
	var st Status
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		st = getStatus(t, n1)
		ct := st.ClusterTraffic
		ok := ct != nil && ct.Complete && len(ct.Nodes) == 3
		for id, n := range sent {
			r, found := nodeRow(ct, id)
			ok = ok && found && r.Requests >= n
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("n1's cluster traffic never counted every node's requests: %+v", ct)
		}
	}
	ct := st.ClusterTraffic
	var sum uint64
	for _, n := range ct.Nodes {
		sum += n.Requests
	}
	if ct.Total.Requests != sum || sum < 15 {
		t.Fatalf("total %d, nodes sum to %d (sent 15)", ct.Total.Requests, sum)
	}
	if len(ct.Frontends) == 0 || ct.Frontends[0].Frontend != "web" || ct.Frontends[0].Requests < 15 {
		t.Fatalf("frontends: %+v", ct.Frontends)
	}
	if ct.Total.BytesOut == 0 {
		t.Fatalf("no bytes out: %+v", ct.Total)
	}

	// Many page views at once make far fewer rounds of calls.
	before := c.Nodes[0].clusterTrafficFetches()
	var wg sync.WaitGroup
	const views = 20
	for range views {
		wg.Go(func() {
			resp, err := http.Get("http://" + n1 + "/")
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	if f := c.Nodes[0].clusterTrafficFetches() - before; f >= views/2 {
		t.Fatalf("%d page views made %d rounds of traffic calls", views, f)
	}

	// A plain /status asks no member: it answers from this node alone (a
	// partitioned node's /status must not wait on its peers).
	before = c.Nodes[0].clusterTrafficFetches()
	time.Sleep(clusterTrafficTTL + 100*time.Millisecond) // past the cache
	var plain Status
	if err := json.Unmarshal([]byte(httpGet(t, "http://"+n1+"/status")), &plain); err != nil {
		t.Fatal(err)
	}
	if plain.ClusterTraffic != nil || plain.Node != "n1" {
		t.Fatalf("plain /status: node %q, cluster_traffic %+v", plain.Node, plain.ClusterTraffic)
	}
	if f := c.Nodes[0].clusterTrafficFetches() - before; f != 0 {
		t.Fatalf("a plain /status made %d rounds of traffic calls", f)
	}

	// n3 stops: listed as unreachable, and the totals say they are partial.
	stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.StopNode(stopCtx, 2); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		st = getStatus(t, n1)
		ct = st.ClusterTraffic
		if !ct.Complete && len(ct.Unreachable) == 1 && ct.Unreachable[0].Node == "n3" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stopped n3 not listed as unreachable: %+v", ct)
		}
	}
	if _, found := nodeRow(ct, "n3"); found || len(ct.Nodes) != 2 {
		t.Fatalf("nodes after n3 stopped: %+v", ct.Nodes)
	}
	if ct.Unreachable[0].Error == "" || ct.Unreachable[0].Addr == "" {
		t.Fatalf("unreachable n3 without a reason: %+v", ct.Unreachable[0])
	}
	page := httpGet(t, "http://"+n1+"/")
	for _, want := range []string{`id="clustertraffic"`, `id="partial"`, "total (partial)", `<tr class="unreachable"><td>n3</td>`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

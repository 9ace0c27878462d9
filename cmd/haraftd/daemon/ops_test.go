package daemon

import (
	"encoding/json"
	"log/slog"
	"os"
	"regexp"
	"testing"
)

var snakeKey = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// badKeys returns the keys of a decoded JSON value, at any depth, that are
// not snake_case, with their paths.
func badKeys(path string, v any) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if !snakeKey.MatchString(k) {
				out = append(out, path+"."+k)
			}
			out = append(out, badKeys(path+"."+k, e)...)
		}
	case []any:
		for _, e := range v {
			out = append(out, badKeys(path+"[]", e)...)
		}
	}
	return out
}

// Every key of a running node's /status is snake_case, the learner's
// counters included (they were Go field names: "Queued").
func TestStatusKeysSnakeCase(t *testing.T) {
	f, rln := newReloadFixture(t)
	f.write(0, "n1", "")
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	d := startServing(t, loadConfig(t, f.file), Options{Logger: log, RaftListener: rln, RaftLogLevel: "error"})
	var st map[string]any
	if err := json.Unmarshal([]byte(httpGet(t, "http://"+d.OpsAddr()+"/status")), &st); err != nil {
		t.Fatal(err)
	}
	if bad := badKeys("", st); len(bad) > 0 {
		t.Errorf("/status keys not snake_case: %v\n%v", bad, st)
	}
	learner, _ := st["learner"].(map[string]any)
	for _, k := range []string{"queued", "committed", "catch_ups", "catch_up_failures"} {
		if _, ok := learner[k]; !ok {
			t.Errorf("/status learner lacks %q: %v", k, learner)
		}
	}
	if _, ok := st["config"].(map[string]any)["config_hash"]; !ok {
		t.Errorf("/status config lacks config_hash: %v", st)
	}
}

package admin

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/fsmpb"
)

type fuzzSink struct{ bytes.Buffer }

func (*fuzzSink) ID() string    { return "fuzz" }
func (*fuzzSink) Cancel() error { return nil }
func (*fuzzSink) Close() error  { return nil }

// FuzzParseSnapshot: the snapshot file an operator uploads to
// SnapshotRestore (magic line, JSON header line, FSM stream) is parsed
// without panicking, and what is accepted is a state whose own snapshot
// parses again.
func FuzzParseSnapshot(f *testing.F) {
	st := fsm.New(nil)
	data, _ := fsm.Encode(fsm.LearnSessionsType, &fsmpb.LearnSessions{Bindings: []*fsmpb.Binding{{Backend: "app", Key: "k", Server: "A"}}})
	st.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: data})
	snap, _ := st.Snapshot()
	var sink fuzzSink
	if err := snap.Persist(&sink); err != nil {
		f.Fatal(err)
	}
	good := append([]byte(snapshotMagic+`{"index":1,"term":2,"node":"n1","saved_unix_ms":3}`+"\n"), sink.Bytes()...)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(snapshotMagic))
	f.Add([]byte(snapshotMagic + "{\n"))
	f.Add([]byte(snapshotMagic + "{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		hdr, stream, st, err := ParseSnapshot(data)
		if err != nil {
			return
		}
		if st == nil || !bytes.HasSuffix(data, stream) {
			t.Fatalf("accepted without a state or with a foreign stream (header %+v)", hdr)
		}
		if _, _, _, err := ParseSnapshot(append([]byte(snapshotMagic+"{}\n"), stream...)); err != nil {
			t.Fatalf("an accepted stream is refused under another header: %v", err)
		}
	})
}

// FuzzPageToken: ListSessions' page token never panics on input, a token
// this server made names the same session when it comes back, and no
// token shows the key it carries.
func FuzzPageToken(f *testing.F) {
	f.Add("app", "JSESSIONID-value", "")
	f.Add("", "", "AAAA")
	f.Add("b", "k", "YXBwAGs")
	f.Add("x", "y", "!!!")
	m, err := newKeyMasker([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, backend, key, token string) {
		_, _ = m.openPageToken(token)
		if strings.Contains(backend, "\x00") {
			return // backend names are config names: no NUL
		}
		k := fsm.SessionKey{Backend: backend, Key: key}
		sealed := m.sealPageToken(k)
		if len(key) >= 8 && strings.Contains(sealed, key) {
			t.Fatalf("token %q shows the key %q", sealed, key)
		}
		got, err := m.openPageToken(sealed)
		if err != nil || got != k {
			t.Fatalf("round trip of %q: %q %v", k, got, err)
		}
	})
}

package fsm

import (
	"bytes"
	"testing"

	"github.com/haraft/haraft/proto/fsmpb"
)

// A drain deadline is kept with the drain state (also through a
// snapshot), cleared by any later admin state, and refused with another
// state or negative.
func TestDrainDeadline(t *testing.T) {
	f := New(nil)
	set := func(admin fsmpb.AdminState, deadline int64) *fsmpb.ApplyResult {
		return f.ApplyCommand(mustEncode(t, SetServerAdminType, &fsmpb.SetServerAdmin{Backend: "app", Name: "A", Admin: admin, DrainDeadlineUnixMs: deadline}))
	}
	drain, ready, maint := fsmpb.AdminState_ADMIN_DRAIN, fsmpb.AdminState_ADMIN_READY, fsmpb.AdminState_ADMIN_MAINT
	for _, tc := range []struct {
		name     string
		admin    fsmpb.AdminState
		deadline int64
		code     string
		want     int64 // the deadline kept afterwards
	}{
		{"drain with a deadline", drain, 1_700_000_300_000, "", 1_700_000_300_000},
		{"a deadline with ready is refused", ready, 5, "invalid", 1_700_000_300_000},
		{"a deadline with maint is refused", maint, 5, "invalid", 1_700_000_300_000},
		{"a negative deadline is refused", drain, -1, "invalid", 1_700_000_300_000},
		{"drain again without one clears it", drain, 0, "", 0},
		{"a new deadline", drain, 1_700_000_600_000, "", 1_700_000_600_000},
	} {
		if res := set(tc.admin, tc.deadline); res.ErrorCode != tc.code {
			t.Fatalf("%s: %+v, want code %q", tc.name, res, tc.code)
		}
		if got := f.Servers().Get("app", "A").DrainDeadline; got != tc.want {
			t.Fatalf("%s: deadline %d, want %d", tc.name, got, tc.want)
		}
	}
	c := New(nil)
	if err := c.Restore(nopCloser{bytes.NewReader(snapshotBytes(t, f))}); err != nil {
		t.Fatal(err)
	}
	if st := c.Servers().Get("app", "A"); st.Admin != drain || st.DrainDeadline != 1_700_000_600_000 {
		t.Fatalf("restored %+v", st)
	}
	if res := set(ready, 0); res.ErrorCode != "" || f.Servers().Get("app", "A").DrainDeadline != 0 {
		t.Fatalf("ready did not clear the deadline: %+v %+v", res, f.Servers().Get("app", "A"))
	}
}

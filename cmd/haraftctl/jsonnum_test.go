package main

import (
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/haraft/haraft/proto/adminpb"
)

func TestMarshalJSONNumbers(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    proto.Message
		all  bool
		want string
	}{
		{"uint64 and negative int64", &adminpb.StatusResponse{NodeId: "n1", Term: 7, LastLeaderContactMs: -1}, false,
			`{"node_id":"n1","term":7,"last_leader_contact_ms":-1}`},
		{"largest uint64 stays exact", &adminpb.JoinResponse{Index: 18446744073709551615}, false, `{"index":18446744073709551615}`},
		{"nested and repeated", &adminpb.MembersResponse{Members: []*adminpb.Member{{Id: "n1", LastContactMs: 12}, {Id: "n2", LastContactMs: -1}}}, false,
			`{"members":[{"id":"n1","last_contact_ms":12},{"id":"n2","last_contact_ms":-1}]}`},
		{"strings of digits stay strings", &adminpb.Session{Key: "12345", Server: "7"}, false, `{"key":"12345","server":"7"}`},
		{"escapes and enums as protojson", &adminpb.Event{Message: "a<b> \"q\" \u00e9", Type: adminpb.EventType_EVENT_EIP_MOVED}, false,
			`{"type":"EVENT_EIP_MOVED","message":"a<b> \"q\" é"}`},
		{"unpopulated fields are zero numbers", &adminpb.JoinResponse{}, true, `{"index":0}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := marshalJSON(tc.m, tc.all)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Fatalf("got  %s\nwant %s", b, tc.want)
			}
			back := tc.m.ProtoReflect().New().Interface()
			if err := protojson.Unmarshal(b, back); err != nil || !proto.Equal(back, tc.m) {
				t.Fatalf("does not read back as the message: %v\n%v\n%v", err, back, tc.m)
			}
		})
	}
}

// FuzzMarshalJSON: any Status or Members message (the two deepest with
// 64-bit fields) is written as valid JSON that protojson reads back as the
// same message, with no 64-bit integer left quoted.
func FuzzMarshalJSON(f *testing.F) {
	for _, m := range []proto.Message{
		&adminpb.StatusResponse{NodeId: "n1", Term: 3, LastLeaderContactMs: -1, Frontends: []*adminpb.Frontend{{Name: "web", Requests: 10}}},
		&adminpb.MembersResponse{Members: []*adminpb.Member{{Id: "n1", LastContactMs: 5}}},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
	}
	f.Fuzz(func(t *testing.T, wire []byte, members bool) {
		var m proto.Message = &adminpb.StatusResponse{}
		if members {
			m = &adminpb.MembersResponse{}
		}
		if (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(wire, m) != nil {
			return
		}
		if _, err := protojson.Marshal(m); err != nil {
			return // not valid UTF-8 in a string: protojson refuses it too
		}
		b, err := marshalJSON(m, true)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(b) {
			t.Fatalf("invalid JSON: %s", b)
		}
		back := m.ProtoReflect().New().Interface()
		if err := protojson.Unmarshal(b, back); err != nil || !proto.Equal(back, m) {
			t.Fatalf("does not read back: %v\n%s", err, b)
		}
		if strings.Contains(string(b), `"term":"`) {
			t.Fatalf("quoted 64-bit field: %s", b)
		}
	})
}

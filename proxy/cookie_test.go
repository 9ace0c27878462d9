package proxy

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/haraft/haraft/proxy/h1"
)

func TestRequestCookie(t *testing.T) {
	tests := []struct {
		lines     []string
		name      string
		want      string
		wantFound bool
	}{
		{[]string{"JSESSIONID=abc"}, "JSESSIONID", "abc", true},
		{[]string{"a=1; JSESSIONID=abc; b=2"}, "JSESSIONID", "abc", true},
		{[]string{"a=1", "JSESSIONID=\"q\""}, "JSESSIONID", "q", true},
		{[]string{"XJSESSIONID=abc"}, "JSESSIONID", "", false},
		{[]string{"JSESSIONID"}, "JSESSIONID", "", false},
		{[]string{";;; ;"}, "JSESSIONID", "", false},
		{nil, "JSESSIONID", "", false},
		{[]string{"JSESSIONID=; JSESSIONID=x"}, "JSESSIONID", "", true}, // first occurrence wins, as HAProxy
	}
	for _, tc := range tests {
		got, ok := requestCookie(tc.lines, tc.name)
		if got != tc.want || ok != tc.wantFound {
			t.Errorf("requestCookie(%q) = %q, %v; want %q, %v", tc.lines, got, ok, tc.want, tc.wantFound)
		}
	}
}

func TestValidCookieValue(t *testing.T) {
	for v, want := range map[string]bool{
		"abc123": true, "A~xyz": true, "": false, "a b": false, "a;b": false, "a,b": false, "a\"b": false,
		"\x01": false, "é": false, string(make([]byte, maxCookieValue+1)): false,
	} {
		if got := validCookieValue(v); got != want {
			t.Errorf("validCookieValue(%q) = %v", v, got)
		}
	}
}

func TestRewriteRequestCookie(t *testing.T) {
	tests := []struct {
		lines []string
		keep  bool
		value string
		want  []string
	}{
		{[]string{"a=1; SERVERID=A; b=2"}, false, "", []string{"a=1; b=2"}},
		{[]string{"SERVERID=A"}, false, "", nil},
		{[]string{"x=1", "SERVERID=A"}, false, "", []string{"x=1"}},
		{[]string{"JSESSIONID=A~xyz; t=2"}, true, "xyz", []string{"JSESSIONID=xyz; t=2"}},
		{[]string{"other=1"}, true, "v", []string{"other=1"}},
	}
	for _, tc := range tests {
		name := "SERVERID"
		if tc.keep {
			name = "JSESSIONID"
		}
		got := rewriteRequestCookie(tc.lines, name, tc.keep, tc.value)
		if len(got) == 0 && len(tc.want) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("rewrite(%q) = %q, want %q", tc.lines, got, tc.want)
		}
	}
}

func TestSetCookieHelpers(t *testing.T) {
	n, v, ok := setCookieValue("JSESSIONID=abc; Path=/; HttpOnly")
	if !ok || n != "JSESSIONID" || v != "abc" {
		t.Fatalf("setCookieValue: %q %q %v", n, v, ok)
	}
	if got := replaceSetCookieValue("JSESSIONID=abc; Path=/", "JSESSIONID", "A~abc"); got != "JSESSIONID=A~abc; Path=/" {
		t.Fatalf("replace: %q", got)
	}
	o := &CookieOptions{Name: "SERVERID", HTTPOnly: true, Secure: true}
	if got := insertedCookie(o, "A"); got != "SERVERID=A; path=/; HttpOnly; Secure" {
		t.Fatalf("insert: %q", got)
	}
}

func FuzzRequestCookie(f *testing.F) {
	for _, s := range []string{"JSESSIONID=abc", "a=1; JSESSIONID=A~x", ";;", "JSESSIONID=\"", "=\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		v, ok := requestCookie([]string{line}, "JSESSIONID")
		if ok && validCookieValue(v) && len(v) > maxCookieValue {
			t.Fatal("valid value over the bound")
		}
		_ = rewriteRequestCookie([]string{line}, "JSESSIONID", true, "x")
		_ = rewriteRequestCookie([]string{line}, "JSESSIONID", false, "")
		_, _, _ = setCookieValue(line)
	})
}

// The expectations were read off HAProxy 2.6.12 with
// `cookie SERVERID insert indirect nocache` (see the differential test).
func TestCacheableResponse(t *testing.T) {
	tests := []struct {
		safe   bool
		status int
		fields string
		want   bool
	}{
		{true, 200, "", false},
		{true, 200, "Cache-Control: public\r\n", false},
		{true, 200, "Cache-Control: max-age=60\r\n", true},
		{true, 200, "Cache-Control: public, max-age=60\r\n", true},
		{true, 200, "ETag: \"x\"\r\n", true},
		{true, 200, "Last-Modified: Thu, 01 Dec 2020 16:00:00 GMT\r\n", true},
		{true, 200, "Expires: x\r\n", true},
		{true, 200, "Expires: x\r\nCache-Control: private\r\n", false},
		{true, 302, "Expires: x\r\n", false},
		{true, 500, "Expires: x\r\n", false},
		{true, 200, "Expires: x\r\nPragma: no-cache\r\n", false},
		{true, 200, "cache-control: MAX-AGE=0\r\n", false},
		{false, 200, "Expires: x\r\n", false},
	}
	for _, tc := range tests {
		raw := []byte(fmt.Sprintf("HTTP/1.1 %d X\r\n%sContent-Length: 0\r\n\r\n", tc.status, tc.fields))
		resp, err := h1.ParseResponse(raw, false)
		if err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		if got := cacheableResponse(tc.safe, resp); got != tc.want {
			t.Errorf("safe=%v %d %q: cacheable = %v, want %v", tc.safe, tc.status, tc.fields, got, tc.want)
		}
	}
	if !safeMethod([]byte("GET")) || safeMethod([]byte("POST")) {
		t.Fatal("safeMethod")
	}
}

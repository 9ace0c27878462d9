package proxy

import (
	"strings"
	"testing"
)

// FuzzCookieRewrite: Cookie header parsing never panics; a value found is
// part of the line; removing a cookie (indirect) leaves no trace of it,
// and replacing it (prefix) leaves the new value, whatever the line.
func FuzzCookieRewrite(f *testing.F) {
	for _, s := range []string{
		"SERVERID=A", "a=1; SERVERID=A; b=2", "JSESSIONID=\"q\"", "SERVERID=; SERVERID=x", ";;; ;", "=; =",
		"SERVERID=A~xyz; t=2", "SERVERID", " SERVERID = A ", "SERVERID=\x01",
	} {
		f.Add(s, "SERVERID")
	}
	f.Fuzz(func(t *testing.T, line, name string) {
		if name == "" || strings.ContainsAny(name, "=; \t") {
			return // not a cookie name the config accepts
		}
		lines := []string{line}
		v, ok := requestCookie(lines, name)
		if ok && !strings.Contains(line, v) {
			t.Fatalf("value %q is not in %q", v, line)
		}
		if ok && validCookieValue(v) && strings.ContainsAny(v, ";, \"\\") {
			t.Fatalf("valid value %q with a separator", v)
		}
		if ok && cookieAmbiguous(lines, name, v) && strings.Count(line, name+"=") < 2 {
			t.Fatalf("%q: ambiguous with %s named once", line, name)
		}
		removed := rewriteRequestCookie(lines, name, false, "")
		if _, still := requestCookie(removed, name); still {
			t.Fatalf("indirect left %s in %q (from %q)", name, removed, line)
		}
		kept := rewriteRequestCookie(lines, name, true, "new")
		if got, found := requestCookie(kept, name); ok && (!found || got != "new") {
			t.Fatalf("prefix rewrite of %q gave %q", line, kept)
		}
		// The engine's form of the same rewrite agrees.
		b := &Backend{Cookie: &CookieOptions{Name: name}}
		field := string(b.appendCookieField(nil, []byte("Cookie"), line, &route{rewrite: true}))
		want := ""
		if len(removed) == 1 && removed[0] != "" { // an empty field is dropped
			want = "Cookie: " + removed[0] + "\r\n"
		}
		if field != want {
			t.Fatalf("appendCookieField(%q) = %q, rewriteRequestCookie = %q", line, field, removed)
		}
	})
}

// FuzzSetCookieReplace: Set-Cookie parsing and value replacement never panic,
// and a replaced value reads back.
func FuzzSetCookieReplace(f *testing.F) {
	for _, s := range []string{
		"JSESSIONID=abc; Path=/; HttpOnly", "JSESSIONID=\"q\"", "JSESSIONID=", "=x", "a", " JSESSIONID = v ; x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		name, value, ok := setCookieValue(line)
		if !ok {
			return
		}
		if !strings.Contains(line, name) || !strings.Contains(line, value) {
			t.Fatalf("%q: name %q value %q not in the line", line, name, value)
		}
		if name == "" || strings.ContainsAny(name, ";=") {
			return
		}
		out := replaceSetCookieValue(line, name, "A~v")
		if n, v, ok := setCookieValue(out); !ok || n != name || v != "A~v" {
			t.Fatalf("replace in %q gave %q (%q=%q)", line, out, n, v)
		}
	})
}

package proxy

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2Req is one request a test client sends: extra header fields, and how
// the header block is framed.
type h2Req struct {
	fields   []string // name, value, name, value ...
	split    bool     // the block in a HEADERS and a CONTINUATION frame
	padded   bool     // HEADERS with padding and priority
	path     string
	endsWith []byte // raw bytes appended to the block (fuzz seeds)
}

// h2Client writes client frames with its own HPACK encoder (whose dynamic
// table the server's decoder must follow).
type h2Client struct {
	fr   *http2.Framer
	enc  *hpack.Encoder
	hbuf bytes.Buffer
}

func newH2Client(w io.Writer, r io.Reader) *h2Client {
	c := &h2Client{}
	c.enc = hpack.NewEncoder(&c.hbuf)
	c.fr = http2.NewFramer(w, r)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	return c
}

func (c *h2Client) request(t testing.TB, stream uint32, q h2Req) {
	t.Helper()
	c.hbuf.Reset()
	path := q.path
	if path == "" {
		path = "/"
	}
	fields := append([]string{":method", "GET", ":scheme", "https", ":authority", "www.example.com", ":path", path,
		"user-agent", "h2guard-test"}, q.fields...)
	for i := 0; i < len(fields); i += 2 {
		if err := c.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]}); err != nil {
			t.Fatal(err)
		}
	}
	block := append(c.hbuf.Bytes(), q.endsWith...)
	var err error
	switch {
	case q.split:
		half := len(block) / 2
		if err = c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: block[:half], EndStream: true}); err == nil {
			err = c.fr.WriteContinuation(stream, true, block[half:])
		}
	case q.padded:
		err = c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: block, EndStream: true, EndHeaders: true,
			PadLength: 7, Priority: http2.PriorityParam{StreamDep: 0, Weight: 15}})
	default:
		err = c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: block, EndStream: true, EndHeaders: true})
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestTLSFrontendH2Malformed sends requests over a real TLS connection and
// checks the stream's fate: a connection-specific field or a TE other than
// "trailers" is a stream error of type PROTOCOL_ERROR that never reaches
// the server, in any framing; a SETTINGS frame with an ID twice is
// processed in order. A second request on the same connection, encoded
// against the same HPACK dynamic table, must be answered: the guard kept
// the server's decoder in step.
func TestTLSFrontendH2Malformed(t *testing.T) {
	ca := newTestCA(t)
	pair, _ := ca.issue(t, t.TempDir(), "web", "www.example.com")
	var bad atomic.Int64
	srv := startBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			bad.Add(1)
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	f, _ := startTLSProxy(t, tlsProxyOpts{certs: []CertPair{pair}}, srv)

	rst := "RST_STREAM " + http2.ErrCodeProtocol.String()
	cases := []struct {
		name     string
		settings []http2.Setting
		req      h2Req
		want     string // 200, RST_STREAM <code>, GOAWAY <code>
	}{
		{name: "plain", want: "200"},
		{name: "te trailers", req: h2Req{fields: []string{"te", "trailers"}}, want: "200"},
		{name: "connection", req: h2Req{fields: []string{"connection", "keep-alive"}}, want: rst},
		{name: "keep-alive", req: h2Req{fields: []string{"keep-alive", "timeout=5"}}, want: rst},
		{name: "proxy-connection", req: h2Req{fields: []string{"proxy-connection", "close"}}, want: rst},
		{name: "transfer-encoding", req: h2Req{fields: []string{"transfer-encoding", "chunked"}}, want: rst},
		{name: "upgrade", req: h2Req{fields: []string{"upgrade", "websocket"}}, want: rst},
		{name: "te gzip", req: h2Req{fields: []string{"te", "gzip"}}, want: rst},
		{name: "te trailers, deflate", req: h2Req{fields: []string{"te", "trailers, deflate"}}, want: rst},
		{name: "te twice", req: h2Req{fields: []string{"te", "trailers", "te", "gzip"}}, want: rst},
		{name: "in a CONTINUATION", req: h2Req{fields: []string{"x-a", strings.Repeat("a", 200), "connection", "close"}, split: true}, want: rst},
		{name: "split, clean", req: h2Req{fields: []string{"x-a", strings.Repeat("a", 200)}, split: true}, want: "200"},
		{name: "padded with priority", req: h2Req{fields: []string{"upgrade", "h2c"}, padded: true}, want: rst},
		{name: "padded, clean", req: h2Req{padded: true}, want: "200"},
		{name: "also malformed by name", req: h2Req{fields: []string{"connection", "close", "X-Upper", "1"}}, want: rst},
		{name: "settings twice", settings: []http2.Setting{{ID: http2.SettingMaxFrameSize, Val: 20000}, {ID: http2.SettingInitialWindowSize, Val: 100}, {ID: http2.SettingMaxFrameSize, Val: 16384}}, want: "200"},
		{name: "settings twice, invalid", settings: []http2.Setting{{ID: http2.SettingInitialWindowSize, Val: 1}, {ID: http2.SettingInitialWindowSize, Val: 1 << 31}}, want: "GOAWAY " + http2.ErrCodeFlowControl.String()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := tls.Dial("tcp", f.Addr().String(), &tls.Config{RootCAs: ca.pool, ServerName: "www.example.com", NextProtos: []string{"h2"}})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
			if _, err := io.WriteString(conn, h2Preface); err != nil {
				t.Fatal(err)
			}
			c := newH2Client(conn, conn)
			if err := c.fr.WriteSettings(tc.settings...); err != nil {
				t.Fatal(err)
			}
			q := tc.req
			if tc.want != "200" {
				q.path = "/bad"
			}
			c.request(t, 1, q)
			if got := awaitStream(t, c.fr, 1); got != tc.want {
				t.Fatalf("stream 1: %s, want %s", got, tc.want)
			}
			if strings.HasPrefix(tc.want, "GOAWAY") {
				return
			}
			// The same fields again, now mostly from the dynamic table.
			q.fields, q.path = append(q.fields[:0:0], "accept", "*/*"), "/"
			c.request(t, 3, q)
			if got := awaitStream(t, c.fr, 3); got != "200" {
				t.Fatalf("stream 3 after it: %s", got)
			}
		})
	}
	if n := bad.Load(); n != 0 {
		t.Fatalf("the server received %d malformed requests", n)
	}
}

// awaitStream reads frames until stream id is answered, reset, or the
// connection goes away.
func awaitStream(t testing.TB, fr *http2.Framer, id uint32) string {
	t.Helper()
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return "read: " + err.Error()
		}
		switch f := f.(type) {
		case *http2.GoAwayFrame:
			return "GOAWAY " + f.ErrCode.String()
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				return "RST_STREAM " + f.ErrCode.String()
			}
		case *http2.MetaHeadersFrame:
			if f.StreamID == id {
				return f.PseudoValue("status")
			}
		case *http2.SettingsFrame:
			if !f.IsAck() {
				if err := fr.WriteSettingsAck(); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// chunkConn is a net.Conn whose reads return at most chunk bytes of r:
// the guard must not depend on how the TLS layer splits its input.
type chunkConn struct {
	net.Conn
	r     io.Reader
	chunk int
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(p) > c.chunk {
		p = p[:c.chunk]
	}
	return c.r.Read(p)
}

// serverFramer reads frames as the TLS frontend's HTTP/2 server does.
func serverFramer(r io.Reader) *http2.Framer {
	fr := http2.NewFramer(io.Discard, r)
	fr.ReadMetaHeaders = hpack.NewDecoder(h2HeaderTableSize, nil)
	fr.MaxHeaderListSize = uint32(h2MaxHeaderListSize(0))
	fr.SetMaxReadFrameSize(h2MaxFrameSize)
	return fr
}

func connSpecific(fields []hpack.HeaderField) bool {
	for _, hf := range fields {
		switch hf.Name {
		case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
			return true
		case "te":
			if hf.Value != "trailers" {
				return true
			}
		}
	}
	return false
}

// FuzzH2Guard is a differential check of the guard: the frames the server
// reads through it (output) against the frames it would read from the
// client's bytes directly (input), with the same framer. They must be the
// same frames with the same errors, except that a header block holding a
// connection-specific field becomes a stream error of type PROTOCOL_ERROR
// (or, if its last frame is too full to grow, stays as it was), and a
// SETTINGS frame naming an ID twice becomes one that leaves the same
// values (or, with an invalid value, that first invalid value alone).
func FuzzH2Guard(f *testing.F) {
	for _, seed := range h2GuardSeeds(f) {
		f.Add(seed, uint8(0))
		f.Add(seed, uint8(4))
	}
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		input := append([]byte(h2Preface), data...)
		full := fullBlockEnds(data)
		g := newH2Guard(&chunkConn{r: bytes.NewReader(input), chunk: 1 + int(chunk)}, 0)
		var pre [len(h2Preface)]byte
		if _, err := io.ReadFull(g, pre[:]); err != nil || string(pre[:]) != h2Preface {
			t.Fatalf("preface %q, %v", pre, err)
		}
		in, out := serverFramer(bytes.NewReader(data)), serverFramer(g)
		for range 2000 {
			fin, errIn := in.ReadFrame()
			fout, errOut := out.ReadFrame()
			if errIn != nil {
				var se http2.StreamError
				if errors.As(errIn, &se) {
					var so http2.StreamError
					if !errors.As(errOut, &so) || so.StreamID != se.StreamID || so.Code != se.Code {
						t.Fatalf("input: %v, output: %v", errIn, errOut)
					}
					continue
				}
				if errOut == nil || errOut.Error() != errIn.Error() {
					t.Fatalf("input: %v, output: %v, %v", errIn, fout, errOut)
				}
				return
			}
			switch fi := fin.(type) {
			case *http2.MetaHeadersFrame:
				if !fi.Truncated && connSpecific(fi.Fields) {
					var so http2.StreamError
					if errors.As(errOut, &so) && so.StreamID == fi.StreamID && so.Code == http2.ErrCodeProtocol {
						continue
					}
					if !full[fi.StreamID] {
						t.Fatalf("%v: output %v, %v; want a stream error", fi.Fields, fout, errOut)
					}
				}
				fo, ok := fout.(*http2.MetaHeadersFrame)
				if !ok || errOut != nil || !reflect.DeepEqual(fo.Fields, fi.Fields) || fo.Truncated != fi.Truncated ||
					fo.StreamID != fi.StreamID || fo.StreamEnded() != fi.StreamEnded() || fo.Priority != fi.Priority {
					t.Fatalf("input %v, output %v, %v", fi, fout, errOut)
				}
			case *http2.SettingsFrame:
				if errOut != nil && firstInvalid(fi) == errOut {
					return // the framer refuses the invalid value kept alone
				}
				fo, ok := fout.(*http2.SettingsFrame)
				if !ok || errOut != nil {
					t.Fatalf("input %v, output %v, %v", fi, fout, errOut)
				}
				checkSettings(t, fi, fo)
			default:
				if errOut != nil || !reflect.DeepEqual(fin, fout) {
					t.Fatalf("input %v, output %v, %v", fin, fout, errOut)
				}
			}
		}
	})
}

// firstInvalid is the error of the first invalid value of a SETTINGS
// frame the guard rewrites, nil if none.
func firstInvalid(f *http2.SettingsFrame) error {
	if f.IsAck() || !f.HasDuplicates() || f.NumSettings() > 100 {
		return nil
	}
	var bad error
	_ = f.ForeachSetting(func(s http2.Setting) error {
		bad = s.Valid()
		return bad
	})
	return bad
}

// checkSettings: fo is fi, or fi collapsed to one value per ID.
func checkSettings(t *testing.T, fi, fo *http2.SettingsFrame) {
	t.Helper()
	var in, out []http2.Setting
	_ = fi.ForeachSetting(func(s http2.Setting) error { in = append(in, s); return nil })
	_ = fo.ForeachSetting(func(s http2.Setting) error { out = append(out, s); return nil })
	if fi.IsAck() || !fi.HasDuplicates() || len(in) > 100 {
		if !reflect.DeepEqual(in, out) || fi.Header() != fo.Header() {
			t.Fatalf("settings %v became %v", in, out)
		}
		return
	}
	if fo.HasDuplicates() || fo.Header().Flags != fi.Header().Flags {
		t.Fatalf("settings %v became %v", in, out)
	}
	for _, s := range in {
		if s.Valid() != nil {
			if len(out) != 1 || out[0] != s {
				t.Fatalf("settings %v became %v, want the first invalid one", in, out)
			}
			return
		}
	}
	final := map[http2.SettingID]uint32{}
	for _, s := range in {
		final[s.ID] = s.Val
	}
	if len(out) != len(final) {
		t.Fatalf("settings %v became %v", in, out)
	}
	for _, s := range out {
		if final[s.ID] != s.Val {
			t.Fatalf("settings %v became %v", in, out)
		}
	}
}

// fullBlockEnds returns the streams of the HEADERS and CONTINUATION frames
// with END_HEADERS in data that have no room for h2MalformedField.
func fullBlockEnds(data []byte) map[uint32]bool {
	full := map[uint32]bool{}
	for len(data) >= 9 {
		length := int(data[0])<<16 | int(data[1])<<8 | int(data[2])
		if (data[3] == h2FrameHeaders || data[3] == h2FrameContinuation) && data[4]&h2FlagEndHeaders != 0 &&
			length+len(h2MalformedField) > h2MaxFrameSize {
			full[binary.BigEndian.Uint32(data[5:9])&(1<<31-1)] = true
		}
		if len(data) < 9+length {
			break
		}
		data = data[9+length:]
	}
	return full
}

// h2GuardSeeds are client byte streams (after the preface) for the fuzz
// target: each framing the guard looks at.
func h2GuardSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	build := func(fn func(c *h2Client)) {
		var b bytes.Buffer
		c := newH2Client(&b, nil)
		fn(c)
		seeds = append(seeds, bytes.Clone(b.Bytes()))
	}
	build(func(c *h2Client) {
		_ = c.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 100})
		c.request(t, 1, h2Req{})
		c.request(t, 3, h2Req{fields: []string{"connection", "close"}})
		c.request(t, 5, h2Req{fields: []string{"cookie", "a=1"}})
	})
	build(func(c *h2Client) {
		c.request(t, 1, h2Req{fields: []string{"te", "trailers"}, split: true})
		c.request(t, 3, h2Req{fields: []string{"te", "gzip"}, padded: true})
		c.request(t, 5, h2Req{fields: []string{"upgrade", "h2c", "x", strings.Repeat("y", 100)}, split: true})
	})
	build(func(c *h2Client) {
		_ = c.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 100}, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1})
		_ = c.fr.WriteSettings(http2.Setting{ID: http2.SettingEnablePush, Val: 0}, http2.Setting{ID: http2.SettingEnablePush, Val: 2}, http2.Setting{ID: http2.SettingEnablePush, Val: 0})
		_ = c.fr.WriteSettingsAck()
		_ = c.fr.WritePing(false, [8]byte{1})
		_ = c.fr.WriteWindowUpdate(0, 1000)
	})
	build(func(c *h2Client) {
		c.request(t, 1, h2Req{fields: []string{"transfer-encoding", "chunked"}})
		_ = c.fr.WriteData(1, true, []byte("hello"))
		_ = c.fr.WriteRSTStream(1, http2.ErrCodeCancel)
		c.request(t, 3, h2Req{fields: []string{"Connection", "close"}}) // upper case: the server's own stream error
	})
	build(func(c *h2Client) { // a full last frame: left alone
		c.request(t, 1, h2Req{fields: []string{"keep-alive", "1", "x-big", strings.Repeat("z", h2MaxFrameSize-60)}})
	})
	build(func(c *h2Client) { // too large: FRAME_SIZE_ERROR
		c.request(t, 1, h2Req{fields: []string{"x-big", strings.Repeat("z", h2MaxFrameSize+10)}})
	})
	build(func(c *h2Client) { // a CONTINUATION out of place, a truncated block
		_ = c.fr.WriteContinuation(1, true, []byte{0x82})
		c.request(t, 3, h2Req{endsWith: []byte{0x40, 0x05}})
	})
	build(func(c *h2Client) { // a dynamic table size update, then indexing
		c.enc.SetMaxDynamicTableSizeLimit(256)
		c.enc.SetMaxDynamicTableSize(256)
		c.request(t, 1, h2Req{fields: []string{"proxy-connection", "x"}})
		c.request(t, 3, h2Req{fields: []string{"proxy-connection", "x"}})
	})
	return seeds
}

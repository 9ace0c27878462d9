package proxy

import (
	"crypto/tls"
	"encoding/binary"
	"net"
	"net/http"
	"slices"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// The HTTP/2 server settings the TLS frontend runs with, and that h2Guard
// mirrors: a frame larger than h2MaxFrameSize is a FRAME_SIZE_ERROR, and
// the guard's HPACK decoder needs the server's dynamic table size.
const (
	// h2MaxFrameSize is SETTINGS_MAX_FRAME_SIZE: the RFC 9113 default
	// (and HAProxy's tune.h2.max-frame-size), not Go's 1 MiB. A client
	// that never reads the server's SETTINGS may assume it (RFC 9113
	// §4.2), so a larger frame is refused, and the guard never holds more
	// than this many bytes of one frame.
	h2MaxFrameSize = 16384
	// h2HeaderTableSize is SETTINGS_HEADER_TABLE_SIZE (the default).
	h2HeaderTableSize = 4096
)

// h2MaxHeaderListSize is the header list limit the HTTP/2 server derives
// from http.Server.MaxHeaderBytes (x/net/http2 serverConn.maxHeaderListSize):
// the guard's HPACK decoder refuses strings longer than that, as the
// server's does.
func h2MaxHeaderListSize(maxHeaderBytes int) int {
	if maxHeaderBytes <= 0 {
		maxHeaderBytes = http.DefaultMaxHeaderBytes
	}
	return maxHeaderBytes + 10*32
}

// h2Preface is the client connection preface (RFC 9113 §3.4).
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

const (
	h2FrameHeaders      = 0x1
	h2FrameSettings     = 0x4
	h2FrameContinuation = 0x9

	h2FlagAck        = 0x1
	h2FlagEndHeaders = 0x4
	h2FlagPadded     = 0x8
	h2FlagPriority   = 0x20
)

// h2MalformedField is appended to a header block that carries a
// connection-specific field: a literal without indexing (it leaves the
// HPACK dynamic tables alone) whose name has upper-case letters, which the
// HTTP/2 server's framer refuses with a stream error of type
// PROTOCOL_ERROR. The name says who put it there when the server logs it.
var h2MalformedField = []byte("\x00\x12X-Haraft-Malformed\x00")

// h2Guard sits between the TLS connection and the HTTP/2 server of a TLS
// frontend, on the client-to-server byte stream, and makes the server
// answer two things as RFC 9113 requires where net/http's and
// x/net/http2's server (the same code) cannot be configured to:
//
//   - A request with a connection-specific header field (connection,
//     keep-alive, proxy-connection, transfer-encoding, upgrade) or a TE
//     other than "trailers" is malformed (§8.2.2) and, from an
//     intermediary, MUST be a stream error of type PROTOCOL_ERROR (§8.1.1)
//     and never be forwarded. The server answers it with a 400 of its own
//     instead (golang/go#26321). The guard decodes every header block with
//     its own HPACK decoder, kept in step with the server's (same input,
//     same table size), and to a block holding such a field appends
//     h2MalformedField, a field the server's framer refuses as a stream
//     error: the server then resets the stream with PROTOCOL_ERROR, keeps
//     its own stream and HPACK state right, and no handler runs. (HAProxy
//     refuses the same list, and a TE other than exactly "trailers".)
//   - The values of a SETTINGS frame are processed in order (§6.5.3); the
//     server instead closes the connection when an ID appears twice. The
//     guard rewrites such a frame to one value per ID, the last one, which
//     leaves the peer in the same state as processing them in order; when
//     any value is invalid it keeps only the first invalid one, so the
//     server fails the connection with that value's error code (a frame
//     whose first SETTINGS_INITIAL_WINDOW_SIZE is too large goes through
//     as it is: the server's framer refuses it as FLOW_CONTROL_ERROR).
//     The one difference: a transient SETTINGS_INITIAL_WINDOW_SIZE that
//     would overflow a stream window is not seen. More than 100 values go
//     through as they are, and the server refuses them.
//
// Everything else goes through byte for byte: DATA payloads are read
// straight into the server's buffer, only HEADERS, CONTINUATION and
// SETTINGS frames (at most h2MaxFrameSize long) are held whole. The guard
// enforces nothing itself: at the first thing it does not expect (a bad
// preface, an oversized frame, a broken header block sequence, an HPACK
// error) it stops looking and passes the rest of the connection through,
// and the server, which reads the same bytes, fails the connection. If
// its decoder ever disagreed with the server's, the worst outcome is the
// server's own 400 for such a request: the server refuses these fields in
// any case, the guard only changes how.
//
// The alternative, a frame filter writing RST_STREAM itself, would have to
// splice frames into the server's output and hide the stream from the
// server, whose HPACK state must still see the block: more code, less
// exact.
type h2Guard struct {
	net.Conn // a *tls.Conn in production

	maxList int // the server's header list limit (HPACK string limit)

	buf   []byte // the unit being read: preface, frame header, held frame
	need  int    // len(buf) when the unit is complete
	stage uint8
	out   []byte // bytes ready for the server (a slice of buf)
	pass  uint32 // payload bytes of the current frame still to pass through
	err   error  // a read error to return once out is drained
	off   bool   // pass everything through from now on

	dec       *hpack.Decoder
	block     uint32 // stream of the header block in progress, 0 if none
	blockLen  int    // its bytes so far
	malformed bool   // it holds a connection-specific field
	skip      bool   // the server does not decode it (bad padding)
}

const (
	guardPreface = iota
	guardHeader
	guardPayload
)

func newH2Guard(c net.Conn, maxHeaderBytes int) *h2Guard {
	g := &h2Guard{Conn: c, maxList: h2MaxHeaderListSize(maxHeaderBytes), need: len(h2Preface)}
	g.buf = make([]byte, 0, 64)
	return g
}

// ConnectionState is the TLS connection's: the HTTP/2 server reads it
// (for the TLS version it requires, and Request.TLS).
func (g *h2Guard) ConnectionState() tls.ConnectionState {
	if tc, ok := g.Conn.(interface{ ConnectionState() tls.ConnectionState }); ok {
		return tc.ConnectionState()
	}
	return tls.ConnectionState{}
}

// Read hands the server the client's bytes, with the guard's changes.
func (g *h2Guard) Read(p []byte) (int, error) {
	for {
		if len(g.out) > 0 {
			n := copy(p, g.out)
			g.out = g.out[n:]
			return n, nil
		}
		if g.err != nil {
			err := g.err
			g.err = nil
			return 0, err
		}
		if g.off || len(p) == 0 {
			return g.Conn.Read(p)
		}
		if g.pass > 0 {
			if uint32(len(p)) > g.pass {
				p = p[:g.pass]
			}
			n, err := g.Conn.Read(p)
			g.pass -= uint32(n)
			return n, err
		}
		if len(g.buf) == g.need { // the last unit was handed over
			if cap(g.buf) > 4096 {
				g.buf = make([]byte, 0, 64) // an idle connection keeps no large buffer
			}
			g.buf, g.need = g.buf[:0], 9
		}
		n, err := g.Conn.Read(g.buf[len(g.buf):g.need])
		g.buf = g.buf[:len(g.buf)+n]
		switch {
		case len(g.buf) == g.need:
			g.step()
		case err != nil:
			// The server gets the bytes of the unit cut short, then
			// the error, and from then on the connection as it is.
			g.out = g.buf
			g.stop()
		}
		if err != nil {
			g.err = err
		}
	}
}

// step handles a complete unit in buf, setting out (and pass, need).
func (g *h2Guard) step() {
	switch g.stage {
	case guardPreface:
		g.stage = guardHeader
		g.out = g.buf
		if string(g.buf) != h2Preface {
			g.stop()
		}
	case guardHeader:
		length := uint32(g.buf[0])<<16 | uint32(g.buf[1])<<8 | uint32(g.buf[2])
		typ, flags := g.buf[3], g.buf[4]
		stream := binary.BigEndian.Uint32(g.buf[5:9]) & (1<<31 - 1)
		hold := typ == h2FrameHeaders || typ == h2FrameContinuation ||
			typ == h2FrameSettings && flags&h2FlagAck == 0 && stream == 0
		switch {
		case length > h2MaxFrameSize || g.block != 0 && typ != h2FrameContinuation:
			// FRAME_SIZE_ERROR, or a header block interrupted
			// (PROTOCOL_ERROR): the server fails the connection.
			g.out = g.buf
			g.stop()
		case hold && length > 0:
			g.stage = guardPayload
			g.need = 9 + int(length)
			g.buf = slices.Grow(g.buf, g.need-len(g.buf))
		default:
			g.out = g.buf
			if hold {
				g.frame()
			}
			g.pass = length
		}
	case guardPayload:
		g.stage = guardHeader
		g.out = g.buf
		g.frame()
	}
}

// stop makes the guard pass everything through from now on.
func (g *h2Guard) stop() {
	g.off = true
	g.dec = nil
}

// frame handles a held frame, out = buf, rewriting out where needed.
func (g *h2Guard) frame() {
	f := g.out
	typ, flags := f[3], f[4]
	stream := binary.BigEndian.Uint32(f[5:9]) & (1<<31 - 1)
	payload := f[9:]
	switch typ {
	case h2FrameSettings:
		g.settings(payload)
		return
	case h2FrameHeaders:
		if stream == 0 {
			g.stop()
			return
		}
		// Padding and priority are the server's to check: a frame
		// too short for them is its PROTOCOL_ERROR.
		pad := 0
		if flags&h2FlagPadded != 0 {
			if len(payload) < 1 {
				g.stop()
				return
			}
			pad = int(payload[0])
			payload = payload[1:]
		}
		if flags&h2FlagPriority != 0 {
			if len(payload) < 5 {
				g.stop()
				return
			}
			payload = payload[5:]
		}
		g.block, g.blockLen, g.malformed, g.skip = stream, 0, false, false
		if pad > len(payload) {
			// The server's framer resets the stream without decoding
			// the block, and takes its CONTINUATION frames for frames
			// of their own, which it ignores.
			g.skip = true
		} else {
			payload = payload[:len(payload)-pad]
		}
	case h2FrameContinuation:
		if g.block == 0 || stream != g.block {
			g.stop()
			return
		}
	}
	if g.skip {
		if flags&h2FlagEndHeaders != 0 {
			g.block = 0
		}
		return
	}
	if g.dec == nil {
		g.dec = hpack.NewDecoder(h2HeaderTableSize, g.inspect)
		g.dec.SetMaxStringLength(g.maxList)
	}
	g.blockLen += len(payload)
	if g.blockLen > 2*g.maxList+h2MaxFrameSize {
		g.stop() // the server refuses far smaller blocks
		return
	}
	if _, err := g.dec.Write(payload); err != nil {
		g.stop()
		return
	}
	if flags&h2FlagEndHeaders == 0 {
		return
	}
	g.block = 0
	if err := g.dec.Close(); err != nil {
		g.stop()
		return
	}
	if g.malformed {
		g.markMalformed()
	}
}

// inspect is the HPACK decoder's emit function.
func (g *h2Guard) inspect(hf hpack.HeaderField) {
	switch hf.Name {
	case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
		g.malformed = true
	case "te":
		g.malformed = g.malformed || hf.Value != "trailers"
	}
}

// markMalformed inserts h2MalformedField at the end of the header block
// fragment of the held frame in out (before its padding, if any).
// A frame that would grow past h2MaxFrameSize is left alone (the server
// then answers 400 as it would without the guard).
func (g *h2Guard) markMalformed() {
	f := g.out
	length := len(f) - 9 + len(h2MalformedField)
	if length > h2MaxFrameSize {
		return
	}
	at := len(f)
	if f[3] == h2FrameHeaders && f[4]&h2FlagPadded != 0 {
		at -= int(f[9]) // before the padding
	}
	f = slices.Insert(f, at, h2MalformedField...)
	f[0], f[1], f[2] = byte(length>>16), byte(length>>8), byte(length)
	g.out, g.buf = f, f
	g.need = len(f)
}

// settings rewrites a SETTINGS payload with an ID given more than once.
func (g *h2Guard) settings(payload []byte) {
	n := len(payload) / 6
	if len(payload)%6 != 0 || n > 100 {
		return // FRAME_SIZE_ERROR, or too many: the server's to refuse
	}
	read := func(i int) http2.Setting {
		return http2.Setting{
			ID:  http2.SettingID(binary.BigEndian.Uint16(payload[6*i:])),
			Val: binary.BigEndian.Uint32(payload[6*i+2:]),
		}
	}
	dup := false
	for i := range n {
		for j := range i {
			if read(i).ID == read(j).ID {
				dup = true
			}
		}
	}
	if !dup {
		return
	}
	for i := range n {
		if s := read(i); s.ID == http2.SettingInitialWindowSize {
			if s.Valid() != nil {
				return // the server's framer checks the first one: FLOW_CONTROL_ERROR
			}
			break
		}
	}
	var out []byte
	for i := range n {
		s := read(i)
		if s.Valid() != nil {
			out = append(out[:0], payload[6*i:6*i+6]...)
			break
		}
		last := true
		for j := i + 1; j < n; j++ {
			if read(j).ID == s.ID {
				last = false
			}
		}
		if last {
			out = append(out, payload[6*i:6*i+6]...)
		}
	}
	f := append(g.out[:9:9], out...)
	f[0], f[1], f[2] = byte(len(out)>>16), byte(len(out)>>8), byte(len(out))
	g.out, g.buf, g.need = f, f, len(f)
}

package accesslog

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Logger takes lines from a data path. Log must not block and must not
// keep l (or its byte slices) after it returns.
type Logger interface {
	Log(l *Line)
}

// Discard is a Logger that drops every line.
type Discard struct{}

// Log drops l.
func (Discard) Log(*Line) {}

// Options configure a Writer.
type Options struct {
	Target Target
	Format Format
	// Facility is the syslog facility number (ParseFacility; local0 = 16).
	Facility int
	// Tag is the syslog APP-NAME; default "haraft".
	Tag string
	// Queue is how many lines may wait for the writer; default 8192. When
	// it is full, lines are dropped and counted.
	Queue int
	// FlushInterval is how long the writer lets lines gather after the
	// first one before it writes them all at once; default 5ms, negative
	// for none. Without it a busy proxy wakes the writer goroutine and
	// makes a write(2) for nearly every line; with it, one of each per
	// interval (or sooner, when a quarter of the queue is full).
	FlushInterval time.Duration
	// Log receives the writer's own errors (at most one a second); nil:
	// slog.Default().
	Log *slog.Logger
	// Stdout and Stderr replace os.Stdout and os.Stderr (tests).
	Stdout, Stderr io.Writer
}

// Stats are a Writer's counts.
type Stats struct {
	Lines   uint64 // lines written
	Dropped uint64 // lines dropped because the queue was full or the writer closed
	Errors  uint64 // failed writes (their lines are lost)
	Reopens uint64
}

// Writer is a Logger that formats lines into pooled buffers and writes
// them from a goroutine of its own, never blocking Log.
type Writer struct {
	o        Options
	queue    chan *lineBuf
	kick     chan struct{} // wakes a gathering writer early (queue filling, Close)
	kickAt   int
	pool     sync.Pool
	reopen   chan chan error
	done     chan struct{}
	closed   atomic.Bool
	mu       sync.RWMutex // held shared by Log while queueing, exclusive by Close
	lines    atomic.Uint64
	dropped  atomic.Uint64
	errs     atomic.Uint64
	reopens  atomic.Uint64
	hostname string
	pid      string

	// owned by the writer goroutine
	out     io.Writer
	file    *os.File
	conn    net.Conn
	batch   []byte
	lastErr time.Time
}

type lineBuf struct {
	b []byte
	t time.Time // when it was logged, for the syslog header
}

// NewWriter opens o.Target and starts the writer goroutine. A syslog
// target that cannot be reached yet is retried on each line.
func NewWriter(o Options) (*Writer, error) {
	if o.Queue <= 0 {
		o.Queue = 8192
	}
	if o.Tag == "" {
		o.Tag = "haraft"
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = 5 * time.Millisecond
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	w := &Writer{o: o, queue: make(chan *lineBuf, o.Queue), kick: make(chan struct{}, 1),
		kickAt: max(o.Queue/4, 1), reopen: make(chan chan error),
		done: make(chan struct{}), pid: strconv.Itoa(os.Getpid())}
	w.pool.New = func() any { return &lineBuf{b: make([]byte, 0, 512)} }
	w.hostname, _ = os.Hostname()
	if w.hostname == "" {
		w.hostname = "-"
	}
	if err := w.open(); err != nil && !o.Target.Syslog() {
		return nil, err
	}
	go w.run()
	return w, nil
}

// Log formats l and queues it; when the queue is full the line is
// dropped and counted.
func (w *Writer) Log(l *Line) {
	lb := w.pool.Get().(*lineBuf)
	lb.b = w.o.Format.Append(lb.b[:0], l)
	if w.o.Target.Syslog() {
		lb.t = time.Now()
	} else {
		lb.b = append(lb.b, '\n')
	}
	w.mu.RLock()
	if w.closed.Load() {
		w.mu.RUnlock()
		w.dropped.Add(1)
		w.pool.Put(lb)
		return
	}
	select {
	case w.queue <- lb:
		if len(w.queue) >= w.kickAt {
			w.wake()
		}
	default:
		w.dropped.Add(1)
		w.pool.Put(lb)
	}
	w.mu.RUnlock()
}

// wake ends the writer's gathering wait early.
func (w *Writer) wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Reopen closes and reopens the target (a file renamed by logrotate is
// then written anew at its path). It waits for the writer goroutine.
func (w *Writer) Reopen() error {
	ch := make(chan error, 1)
	select {
	case w.reopen <- ch:
		return <-ch
	case <-w.done:
		return errors.New("access log closed")
	}
}

// Stats returns the writer's counts.
func (w *Writer) Stats() Stats {
	return Stats{Lines: w.lines.Load(), Dropped: w.dropped.Load(), Errors: w.errs.Load(), Reopens: w.reopens.Load()}
}

// Target returns where the writer writes.
func (w *Writer) Target() Target { return w.o.Target }

// Close writes what is queued, then closes the target. Lines logged
// after Close are dropped.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed.Swap(true) {
		w.mu.Unlock()
		<-w.done
		return nil
	}
	close(w.queue)
	w.mu.Unlock()
	w.wake()
	<-w.done
	return nil
}

func (w *Writer) open() error {
	switch w.o.Target.Kind {
	case TargetStdout:
		w.out = w.o.Stdout
	case TargetStderr:
		w.out = w.o.Stderr
	case TargetFile:
		f, err := os.OpenFile(w.o.Target.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return fmt.Errorf("access log: %w", err)
		}
		w.file, w.out = f, f
	case TargetUDP, TargetUnix:
		network, addr := "udp", w.o.Target.Addr
		if w.o.Target.Kind == TargetUnix {
			network, addr = "unixgram", w.o.Target.Path
		}
		c, err := net.Dial(network, addr)
		if err != nil {
			return fmt.Errorf("access log: syslog %s: %w", w.o.Target, err)
		}
		w.conn, w.out = c, c
	default:
		return fmt.Errorf("access log: no target")
	}
	return nil
}

func (w *Writer) closeTarget() {
	if w.file != nil {
		_ = w.file.Close()
	}
	if w.conn != nil {
		_ = w.conn.Close()
	}
	w.file, w.conn, w.out = nil, nil, nil
}

func (w *Writer) run() {
	defer close(w.done)
	defer w.closeTarget()
	gather := time.NewTimer(time.Hour)
	gather.Stop()
	for {
		select {
		case lb, ok := <-w.queue:
			if !ok {
				return
			}
			// The first line woke the writer; the next ones go into the
			// buffered queue without waking anyone until the interval
			// ends, then all of them are written at once.
			if w.o.FlushInterval > 0 {
				gather.Reset(w.o.FlushInterval)
				select {
				case <-gather.C:
				case <-w.kick:
					gather.Stop()
				}
			}
			w.writeBatch(lb)
			for len(w.queue) > 0 {
				lb, ok := <-w.queue
				if !ok {
					return
				}
				w.writeBatch(lb)
			}
		case ch := <-w.reopen:
			w.closeTarget()
			err := w.open()
			if err == nil {
				w.reopens.Add(1)
			}
			ch <- err
		}
	}
}

// writeBatch writes lb and whatever else is queued already: one write for
// a stream, one datagram per line for syslog.
func (w *Writer) writeBatch(lb *lineBuf) {
	if w.o.Target.Syslog() {
		for {
			w.writeSyslog(lb)
			w.pool.Put(lb)
			var ok bool
			select {
			case lb, ok = <-w.queue:
				if !ok {
					return
				}
			default:
				return
			}
		}
	}
	w.batch = append(w.batch[:0], lb.b...)
	n := uint64(1)
	w.pool.Put(lb)
	lb = nil
	for len(w.batch) < 64<<10 {
		var ok bool
		select {
		case lb, ok = <-w.queue:
		default:
		}
		if lb == nil || !ok {
			break
		}
		w.batch = append(w.batch, lb.b...)
		n++
		w.pool.Put(lb)
		lb = nil
	}
	if w.out == nil {
		if err := w.open(); err != nil {
			w.fail(n, err)
			return
		}
	}
	if _, err := w.out.Write(w.batch); err != nil {
		w.fail(n, err)
		return
	}
	w.lines.Add(n)
}

func (w *Writer) writeSyslog(lb *lineBuf) {
	if w.out == nil {
		if err := w.open(); err != nil {
			w.fail(1, err)
			return
		}
	}
	w.batch = AppendSyslogHeader(w.batch[:0], w.o.Facility, 6, lb.t, w.hostname, w.o.Tag, w.pid)
	w.batch = append(w.batch, lb.b...)
	if _, err := w.out.Write(w.batch); err != nil {
		// A unix socket whose server restarted, a UDP port refusing:
		// dial again for the next line.
		w.closeTarget()
		w.fail(1, err)
		return
	}
	w.lines.Add(1)
}

func (w *Writer) fail(n uint64, err error) {
	w.errs.Add(n)
	if now := time.Now(); now.Sub(w.lastErr) >= time.Second {
		w.lastErr = now
		w.o.Log.Warn("access log write failed", "target", w.o.Target.String(), "err", err)
	}
}

// AppendSyslogHeader appends an RFC 5424 header as HAProxy's "format
// rfc5424" writes it: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID - - (no
// MSGID, no structured data), the message to follow.
func AppendSyslogHeader(dst []byte, facility, severity int, t time.Time, host, app, pid string) []byte {
	dst = append(dst, '<')
	dst = strconv.AppendInt(dst, int64(facility*8+severity), 10)
	dst = append(dst, ">1 "...)
	dst = t.AppendFormat(dst, "2006-01-02T15:04:05.000000Z07:00")
	dst = append(dst, ' ')
	dst = append(dst, host...)
	dst = append(dst, ' ')
	dst = append(dst, app...)
	dst = append(dst, ' ')
	dst = append(dst, pid...)
	return append(dst, " - - "...)
}

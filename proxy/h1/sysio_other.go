//go:build !linux

package h1

// rawIO is Linux only; elsewhere endpoints use net.Conn's Read and Write.
type rawIO struct{}

func (e *endpoint) initRawIO() {}

func (e *endpoint) read(p []byte) (int, error) { return e.conn.Read(p) }

func (e *endpoint) writeAll(p []byte) error {
	_, err := e.conn.Write(p)
	return err
}

func yieldBeforeRead() {}

// Without raw I/O an idle connection keeps its buffers while it waits.
func (e *endpoint) setIdleBuffers(func(), func() []byte) {}

func (e *endpoint) idleBuffersSet() bool { return true }

func (e *endpoint) readIdle(p []byte) (int, error) { return e.read(p) }

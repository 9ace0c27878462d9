//go:build !linux

package proxy

// rawIO is Linux only; elsewhere endpoints use net.Conn's Read and Write.
type rawIO struct{}

func (e *endpoint) initRawIO() {}

func (e *endpoint) read(p []byte) (int, error) { return e.conn.Read(p) }

func (e *endpoint) writeAll(p []byte) error {
	_, err := e.conn.Write(p)
	return err
}

func yieldBeforeRead() {}

// tryRead is read: without raw I/O a read waits.
func (e *endpoint) tryRead(p []byte) (int, error) { return e.read(p) }

func (e *endpoint) waitReadable() error { return nil }

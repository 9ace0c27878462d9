package l4

import "time"

// Policy decides where connections go. Open is called once per client
// connection, from its goroutine.
type Policy interface {
	Open(clientIP string) Session
}

// Session is the policy of one client connection: Route once, Redispatch
// when the routed server cannot be reached, Done once the connection
// ended (also when Route failed: then Result.Routed is false).
type Session interface {
	// Route returns the address of the server to connect to, holding
	// whatever slot the policy keeps for it until Done. An error closes
	// the client connection at once.
	Route() (addr string, err error)
	// Redispatch returns another server's address after cause made the
	// routed one unreachable; "" when there is none.
	Redispatch(cause error) string
	// Done ends the connection.
	Done(r Result)
}

// Result is what became of one client connection.
type Result struct {
	Routed    bool          // Route succeeded
	Connected bool          // a server connection was made
	BytesIn   int64         // client -> server
	BytesOut  int64         // server -> client
	Duration  time.Duration // accept to close
	Err       error         // why it ended abnormally (nil: both sides closed)
}

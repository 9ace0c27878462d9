package l4

import (
	"net"
	"time"
)

// Policy decides where connections go. Open is called once per client
// connection, from its goroutine, with the client's address and the
// address it connected to (the connection's: with the PROXY protocol,
// the ones its header gave).
type Policy interface {
	Open(client, local net.Addr) Session
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
	// Preamble returns what to send the server just connected before
	// the client's bytes (a PROXY protocol header); nil: nothing.
	Preamble() []byte
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
	// Connect is the time taken to connect to the server that took the
	// connection (redispatches included); -1 when none did.
	Connect time.Duration
	End     End   // who or what ended it
	Err     error // why it ended abnormally (nil: both sides closed)
}

// End is what ended a connection, as HAProxy's termination state tells
// it (a policy maps it to its log's two characters).
type End uint8

const (
	EndNormal         End = iota // both sides closed
	EndRoute                     // Route failed: no server
	EndConnect                   // the server refused or could not be reached
	EndConnectTimeout            // timeout connect
	EndClientAbort               // the client's side failed (reset)
	EndServerAbort               // the server's side failed (reset)
	EndClientTimeout             // inactivity while waiting on the client
	EndServerTimeout             // inactivity while waiting on the server
	EndKilled                    // closed by the proxy: drain deadline or shutdown
)

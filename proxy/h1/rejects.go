package h1

import "sync/atomic"

// rejectReason is why the engine answered a request itself, with an
// error status, instead of forwarding it: a label of
// haraft_frontend_rejects_total. The set is fixed, so the metric's label
// values are bounded whatever the input.
type rejectReason uint8

const (
	rejMalformed         rejectReason = iota // 400: request line or field syntax
	rejFraming                               // 400: Content-Length / Transfer-Encoding
	rejChunk                                 // 400: malformed chunked body
	rejHost                                  // 400: missing, repeated or invalid Host
	rejTarget                                // 400: request target, or Host differing from it
	rejMethod                                // 405: CONNECT
	rejTimeout                               // 408: head not received in time
	rejURITooLong                            // 414
	rejFieldsTooLarge                        // 431: head too large or too many fields
	rejNotImplemented                        // 501: transfer coding
	rejVersion                               // 505
	rejBadGateway                            // 502: the server's answer is unusable
	rejNoServer                              // 503: no server may take it (none up, queue full, session unknown)
	rejServerUnavailable                     // 503: the server could not be reached
	rejGatewayTimeout                        // 504
	numRejectReasons
)

// rejectInfo is each reason's status and label value.
var rejectInfo = [numRejectReasons]struct {
	status int
	name   string
}{
	rejMalformed:         {400, "malformed"},
	rejFraming:           {400, "framing"},
	rejChunk:             {400, "chunk"},
	rejHost:              {400, "host"},
	rejTarget:            {400, "target"},
	rejMethod:            {405, "method"},
	rejTimeout:           {408, "timeout"},
	rejURITooLong:        {414, "uri_too_long"},
	rejFieldsTooLarge:    {431, "fields_too_large"},
	rejNotImplemented:    {501, "not_implemented"},
	rejVersion:           {505, "version"},
	rejBadGateway:        {502, "bad_gateway"},
	rejNoServer:          {503, "no_server"},
	rejServerUnavailable: {503, "server_unavailable"},
	rejGatewayTimeout:    {504, "gateway_timeout"},
}

func (r rejectReason) status() int { return rejectInfo[r].status }

// term returns the first two characters of HAProxy's termination state
// for a refusal: the proxy refused the request (PR), a client timeout
// waiting for it (cR), no server could be reached (SC), the server's
// answer was unusable (SH) or late (sH).
func (r rejectReason) term() (end, state byte) {
	switch r {
	case rejTimeout:
		return 'c', 'R'
	case rejNoServer, rejServerUnavailable:
		return 'S', 'C'
	case rejBadGateway:
		return 'S', 'H'
	case rejGatewayTimeout:
		return 's', 'H'
	}
	return 'P', 'R'
}

// RejectCounts counts refusals by reason, without locks or allocation.
type RejectCounts [numRejectReasons]atomic.Uint64

// RejectCount is the number of requests refused with one status and
// reason.
type RejectCount struct {
	Status int
	Reason string
	N      uint64
}

// Snapshot returns every reason's count, zeros included (a metric that
// exists from the start).
func (r *RejectCounts) Snapshot() []RejectCount {
	out := make([]RejectCount, numRejectReasons)
	for i := range r {
		out[i] = RejectCount{rejectInfo[i].status, rejectInfo[i].name, r[i].Load()}
	}
	return out
}

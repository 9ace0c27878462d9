// Package r53emu owns haraft's wire-compatible emulator of the Amazon Route 53
// REST API, used to exercise the record reconciler with the real
// aws-sdk-go-v2 client and the real AWS CLI without any network beyond
// loopback.
//
// An Emulator is an http.Handler speaking Route 53's REST-XML protocol:
// requests signed with SigV4 (service "route53"), XML bodies and errors in
// Route 53's own shapes (ErrorResponse, and InvalidChangeBatch with one
// message per refused change). It implements GetHostedZone,
// ChangeResourceRecordSets (atomic batches of CREATE, DELETE and UPSERT with
// Route 53's rules: a DELETE must match the record exactly, a CREATE must
// not find one), ListResourceRecordSets (in Route 53's order, with paging)
// and GetChange (PENDING, then INSYNC). Hosted zones, records set by someone
// else (drift), throttling and server errors are set through Go methods.
package r53emu

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/haraft/haraft/eipmover/internal/sigv4"
)

// Errors returned by the Go methods that change state; test with errors.Is.
var (
	// ErrNotFound is returned for an unknown hosted zone.
	ErrNotFound = errors.New("r53emu: not found")
	// ErrInvalid is returned for malformed input.
	ErrInvalid = errors.New("r53emu: invalid")
)

const (
	apiPrefix      = "/2013-04-01/"
	maxBodyBytes   = 1 << 20
	defaultMaxSkew = 15 * time.Minute
	// maxChanges is Route 53's limit on changes in one batch.
	maxChanges = 1000
	// maxValues is Route 53's limit on values in one record set.
	maxValues = 400
)

// Options configures an Emulator. The zero value is usable.
type Options struct {
	// Seed seeds the generators of IDs and request IDs.
	Seed uint64
	// Logger receives one record per API call. Default: discard.
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// MaxClockSkew is how far X-Amz-Date may be from Now. Default 15
	// minutes; negative disables the check.
	MaxClockSkew time.Duration
	// PendingPolls is how many GetChange calls see a change PENDING before
	// it reads INSYNC. Zero: one.
	PendingPolls int
	// Credentials are added as by AddCredentials.
	Credentials []Credentials
}

// Credentials is an access key the emulator accepts.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	// Denied lists operations (e.g. "ChangeResourceRecordSets") answered
	// with AccessDenied for this key, as an IAM policy without them would.
	Denied []string
}

// RecordSet is one resource record set. Name is fully qualified with the
// trailing dot in what the emulator returns.
type RecordSet struct {
	Name   string
	Type   string
	TTL    int64
	Values []string
}

// Fault makes the next calls of one operation fail before they change
// anything.
type Fault struct {
	// Throttle answers the next Throttle calls with Throttling (400).
	Throttle int
	// ServerError answers the next ServerError calls with InternalFailure
	// (500), after the throttled ones.
	ServerError int
}

type zone struct {
	id, name string
	records  map[rrKey]RecordSet
}

type rrKey struct{ name, typ string }

type change struct {
	id        string
	submitted time.Time
	comment   string
	polls     int
}

// Emulator is an emulated Route 53 endpoint. Its methods are safe for
// concurrent use.
type Emulator struct {
	opts   Options
	logger *slog.Logger

	mu      sync.Mutex
	creds   map[string]Credentials
	zones   map[string]*zone
	changes map[string]*change
	faults  map[string]Fault
	calls   map[string]int
	idRand  *rand.Rand
	watch   func(zoneID string, rs RecordSet, deleted bool)
}

// New returns an Emulator with no hosted zones.
func New(opts Options) *Emulator {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxClockSkew == 0 {
		opts.MaxClockSkew = defaultMaxSkew
	}
	if opts.PendingPolls <= 0 {
		opts.PendingPolls = 1
	}
	e := &Emulator{
		opts:    opts,
		logger:  opts.Logger,
		creds:   map[string]Credentials{},
		zones:   map[string]*zone{},
		changes: map[string]*change{},
		faults:  map[string]Fault{},
		calls:   map[string]int{},
		idRand:  rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x7235335f656d75)),
	}
	for _, c := range opts.Credentials {
		e.AddCredentials(c)
	}
	return e
}

// AddCredentials adds or replaces an accepted access key.
func (e *Emulator) AddCredentials(c Credentials) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c.Denied = slices.Clone(c.Denied)
	e.creds[c.AccessKeyID] = c
}

// RemoveCredentials revokes an access key: its requests then fail
// signature checks, as a deleted IAM key's do.
func (e *Emulator) RemoveCredentials(accessKeyID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.creds, accessKeyID)
}

// CreateHostedZone adds a public hosted zone for name and returns its ID
// (without the "/hostedzone/" prefix). Its SOA and NS records are created
// as Route 53 does.
func (e *Emulator) CreateHostedZone(name string) (string, error) {
	n, err := canonicalName(name)
	if err != nil || n == "." {
		return "", fmt.Errorf("create hosted zone %q: %w", name, ErrInvalid)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	id := "Z" + e.idLocked(20)
	z := &zone{id: id, name: n, records: map[rrKey]RecordSet{}}
	z.records[rrKey{n, "SOA"}] = RecordSet{Name: n, Type: "SOA", TTL: 900, Values: []string{"ns-1.awsdns-01.org. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400"}}
	z.records[rrKey{n, "NS"}] = RecordSet{Name: n, Type: "NS", TTL: 172800, Values: nameServers()}
	e.zones[id] = z
	return id, nil
}

func nameServers() []string {
	return []string{"ns-1.awsdns-01.org.", "ns-2.awsdns-02.co.uk.", "ns-3.awsdns-03.com.", "ns-4.awsdns-04.net."}
}

// SetRecordSet creates or replaces a record set directly, as another writer
// of the zone (a person in the console, another tool) would. Empty Values
// deletes it.
func (e *Emulator) SetRecordSet(zoneID string, rs RecordSet) error {
	n, err := canonicalName(rs.Name)
	if err != nil {
		return fmt.Errorf("set record set: %w: %w", ErrInvalid, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	z, ok := e.zones[zoneID]
	if !ok {
		return fmt.Errorf("set record set in %s: %w", zoneID, ErrNotFound)
	}
	rs.Name, rs.Type = n, strings.ToUpper(rs.Type)
	k := rrKey{n, rs.Type}
	if len(rs.Values) == 0 {
		if _, ok := z.records[k]; ok {
			delete(z.records, k)
			e.notifyLocked(zoneID, rs, true)
		}
		return nil
	}
	rs.Values = slices.Clone(rs.Values)
	z.records[k] = rs
	e.notifyLocked(zoneID, rs, false)
	return nil
}

// Watch calls fn with every record set a change creates, replaces or
// deletes (ChangeResourceRecordSets or SetRecordSet), change after change
// (the record sets of one batch change at once, reported in no set
// order), until Watch is called again (nil stops). fn runs with the
// emulator locked: it must not call the emulator. A test sees every state
// a record went through, however briefly it lasted.
func (e *Emulator) Watch(fn func(zoneID string, rs RecordSet, deleted bool)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.watch = fn
}

func (e *Emulator) notifyLocked(zoneID string, rs RecordSet, deleted bool) {
	if e.watch != nil {
		rs.Values = slices.Clone(rs.Values)
		e.watch(zoneID, rs, deleted)
	}
}

// LookupRecordSet returns a record set of a zone.
func (e *Emulator) LookupRecordSet(zoneID, name, typ string) (RecordSet, bool) {
	n, err := canonicalName(name)
	if err != nil {
		return RecordSet{}, false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	z, ok := e.zones[zoneID]
	if !ok {
		return RecordSet{}, false
	}
	rs, ok := z.records[rrKey{n, strings.ToUpper(typ)}]
	rs.Values = slices.Clone(rs.Values)
	return rs, ok
}

// SetFault sets the fault of one operation ("ChangeResourceRecordSets",
// "ListResourceRecordSets", "GetChange", "GetHostedZone"), replacing any
// left.
func (e *Emulator) SetFault(op string, f Fault) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults[op] = f
}

// Calls returns how many requests of an operation passed the signature
// check.
func (e *Emulator) Calls(op string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls[op]
}

func (e *Emulator) idLocked(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[e.idRand.IntN(len(alphabet))]
	}
	return string(b)
}

// ServeHTTP serves the Route 53 REST API.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	reqID := fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", e.idRand.Uint32(), e.idRand.IntN(1<<16), e.idRand.IntN(1<<16), e.idRand.IntN(1<<16), e.idRand.Uint64()&(1<<48-1))
	e.mu.Unlock()
	op, status, apiErr := e.serve(w, r, reqID)
	if apiErr != nil {
		writeError(w, reqID, apiErr)
		status = apiErr.Status
	}
	e.logger.LogAttrs(context.Background(), slog.LevelInfo, "route53 call",
		slog.String("op", op), slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Int("status", status), slog.String("request_id", reqID))
}

// route maps a method and path to an operation and its path parameters.
func route(method, path string) (op, id string, apiErr *apiError) {
	rest, ok := strings.CutPrefix(path, apiPrefix)
	if !ok {
		return "", "", newAPIError(http.StatusNotFound, "UnknownOperationException", "Unknown operation %s %s", method, path)
	}
	parts := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	switch {
	case len(parts) == 2 && parts[0] == "hostedzone" && method == http.MethodGet:
		return "GetHostedZone", parts[1], nil
	case len(parts) == 3 && parts[0] == "hostedzone" && parts[2] == "rrset" && method == http.MethodPost:
		return "ChangeResourceRecordSets", parts[1], nil
	case len(parts) == 3 && parts[0] == "hostedzone" && parts[2] == "rrset" && method == http.MethodGet:
		return "ListResourceRecordSets", parts[1], nil
	case len(parts) == 2 && parts[0] == "change" && method == http.MethodGet:
		return "GetChange", parts[1], nil
	}
	return "", "", newAPIError(http.StatusNotFound, "UnknownOperationException", "Unknown operation %s %s", method, path)
}

func (e *Emulator) serve(w http.ResponseWriter, r *http.Request, reqID string) (op string, status int, apiErr *apiError) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return "", 0, clientError("InvalidInput", "could not read the request body: %v", err)
	}
	if len(body) > maxBodyBytes {
		return "", 0, newAPIError(http.StatusRequestEntityTooLarge, "InvalidInput", "request body larger than %d bytes", maxBodyBytes)
	}
	v := sigv4.Verifier{Service: "route53", MaxSkew: e.opts.MaxClockSkew, Now: e.opts.Now(), Secret: e.secretOf}
	ak, authErr := verifySignature(&v, r, body)
	if authErr != nil {
		return "", 0, authErr
	}
	op, id, apiErr := route(r.Method, r.URL.Path)
	if apiErr != nil {
		return op, 0, apiErr
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls[op]++
	if slices.Contains(e.creds[ak].Denied, op) {
		return op, 0, errAccessDenied()
	}
	if f := e.faults[op]; f.Throttle > 0 {
		f.Throttle--
		e.faults[op] = f
		return op, 0, errThrottled()
	} else if f.ServerError > 0 {
		f.ServerError--
		e.faults[op] = f
		return op, 0, errInternal()
	}
	var resp any
	switch op {
	case "GetHostedZone":
		resp, apiErr = e.getHostedZoneLocked(id)
	case "ChangeResourceRecordSets":
		resp, apiErr = e.changeLocked(id, body)
	case "ListResourceRecordSets":
		resp, apiErr = e.listLocked(id, r.URL.Query())
	case "GetChange":
		resp, apiErr = e.getChangeLocked(id)
	}
	if apiErr != nil {
		return op, 0, apiErr
	}
	writeXML(w, reqID, http.StatusOK, resp)
	return op, http.StatusOK, nil
}

func (e *Emulator) secretOf(ak string) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.creds[ak]
	return c.SecretAccessKey, ok
}

func (e *Emulator) zoneLocked(id string) (*zone, *apiError) {
	z, ok := e.zones[id]
	if !ok {
		return nil, newAPIError(http.StatusNotFound, "NoSuchHostedZone", "No hosted zone found with ID: %s", id)
	}
	return z, nil
}

func (e *Emulator) getHostedZoneLocked(id string) (any, *apiError) {
	z, apiErr := e.zoneLocked(id)
	if apiErr != nil {
		return nil, apiErr
	}
	resp := getHostedZoneResponse{Xmlns: xmlns}
	resp.HostedZone = xmlHostedZone{ID: "/hostedzone/" + z.id, Name: z.name, CallerReference: "r53emu-" + z.id, ResourceRecordSetCount: len(z.records)}
	resp.DelegationSet.NameServers = nameServers()
	return resp, nil
}

// changeLocked applies a change batch atomically: every change is checked
// against the state left by the ones before it, and nothing is applied
// unless all pass.
func (e *Emulator) changeLocked(id string, body []byte) (any, *apiError) {
	z, apiErr := e.zoneLocked(id)
	if apiErr != nil {
		return nil, apiErr
	}
	req, apiErr := parseChangeRequest(body)
	if apiErr != nil {
		return nil, apiErr
	}
	next := make(map[rrKey]RecordSet, len(z.records))
	for k, v := range z.records {
		next[k] = v
	}
	var msgs []string
	for _, c := range req.ChangeBatch.Changes {
		rs, err := recordSetOf(c.ResourceRecordSet)
		if err != "" {
			msgs = append(msgs, err)
			continue
		}
		if rs.Name != z.name && !strings.HasSuffix(rs.Name, "."+z.name) {
			msgs = append(msgs, fmt.Sprintf("RRSet with DNS name %s is not permitted in zone %s", rs.Name, z.name))
			continue
		}
		k := rrKey{rs.Name, rs.Type}
		cur, exists := next[k]
		switch c.Action {
		case "CREATE":
			if exists {
				msgs = append(msgs, fmt.Sprintf("Tried to create resource record set [name='%s', type='%s'] but it already exists", rs.Name, rs.Type))
				continue
			}
			next[k] = rs
		case "DELETE":
			if !exists {
				msgs = append(msgs, fmt.Sprintf("Tried to delete resource record set [name='%s', type='%s'] but it was not found", rs.Name, rs.Type))
				continue
			}
			if cur.TTL != rs.TTL || !sameValues(cur.Values, rs.Values) {
				msgs = append(msgs, fmt.Sprintf("Tried to delete resource record set [name='%s', type='%s'] but the values provided do not match the current values", rs.Name, rs.Type))
				continue
			}
			delete(next, k)
		case "UPSERT":
			next[k] = rs
		}
	}
	if len(msgs) > 0 {
		return nil, errInvalidChangeBatch(msgs...)
	}
	for k, rs := range next {
		if cur, ok := z.records[k]; !ok || cur.TTL != rs.TTL || !sameValues(cur.Values, rs.Values) {
			e.notifyLocked(id, rs, false)
		}
	}
	for k, rs := range z.records {
		if _, ok := next[k]; !ok {
			e.notifyLocked(id, rs, true)
		}
	}
	z.records = next
	c := &change{id: "C" + e.idLocked(20), submitted: e.opts.Now().UTC(), comment: req.ChangeBatch.Comment}
	e.changes[c.id] = c
	return changeResourceRecordSetsResponse{Xmlns: xmlns, ChangeInfo: changeInfo(c, "PENDING")}, nil
}

func changeInfo(c *change, status string) xmlChangeInfo {
	return xmlChangeInfo{ID: "/change/" + c.id, Status: status, SubmittedAt: c.submitted.Format(time.RFC3339Nano), Comment: c.comment}
}

// parseChangeRequest decodes and checks a ChangeResourceRecordSetsRequest
// body, with the errors Route 53 gives for malformed ones.
func parseChangeRequest(body []byte) (changeResourceRecordSetsRequest, *apiError) {
	var req changeResourceRecordSetsRequest
	if err := xml.Unmarshal(body, &req); err != nil {
		return req, clientError("InvalidInput", "Invalid XML ; %v", err)
	}
	n := len(req.ChangeBatch.Changes)
	if n == 0 {
		return req, clientError("InvalidInput", "1 validation error detected: Value null at 'changeBatch.changes' failed to satisfy constraint: Member must not be null")
	}
	if n > maxChanges {
		return req, clientError("InvalidInput", "Number of changes %d exceeds the limit of %d", n, maxChanges)
	}
	for i, c := range req.ChangeBatch.Changes {
		switch c.Action {
		case "CREATE", "DELETE", "UPSERT":
		default:
			return req, clientError("InvalidInput", "1 validation error detected: Value '%s' at 'changeBatch.changes.%d.member.action' failed to satisfy constraint: Member must satisfy enum value set: [CREATE, DELETE, UPSERT]", c.Action, i+1)
		}
	}
	return req, nil
}

// recordSetOf checks one record set of a change; the string is the
// InvalidChangeBatch message when it is refused.
func recordSetOf(x xmlRRSet) (RecordSet, string) {
	name, err := canonicalName(x.Name)
	if err != nil {
		return RecordSet{}, fmt.Sprintf("Invalid Resource Record Set name %q: %v", x.Name, err)
	}
	rs := RecordSet{Name: name, Type: x.Type}
	if x.SetIdentifier != "" || x.AliasTarget != nil {
		return rs, fmt.Sprintf("RRSet [name='%s', type='%s'] uses routing policies or alias targets, which this emulator does not support", name, x.Type)
	}
	if x.TTL == nil {
		return rs, fmt.Sprintf("Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found none in Change with [Action=..., Name=%s, Type=%s, SetIdentifier=null]", name, x.Type)
	}
	if *x.TTL < 0 || *x.TTL > 2147483647 {
		return rs, fmt.Sprintf("TTL %d for [name='%s', type='%s'] is out of range", *x.TTL, name, x.Type)
	}
	rs.TTL = *x.TTL
	if x.ResourceRecords == nil || len(x.ResourceRecords.Records) == 0 {
		return rs, fmt.Sprintf("Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found none in Change with [Name=%s, Type=%s]", name, x.Type)
	}
	if len(x.ResourceRecords.Records) > maxValues {
		return rs, fmt.Sprintf("RRSet [name='%s', type='%s'] has more than %d values", name, x.Type, maxValues)
	}
	for _, r := range x.ResourceRecords.Records {
		switch x.Type {
		case "A":
			a, err := netip.ParseAddr(r.Value)
			if err != nil || !a.Is4() {
				return rs, fmt.Sprintf("ARRDATAIllegalIPv4Address (Value is not a valid IPv4 address) encountered with '%s'", r.Value)
			}
		case "AAAA":
			a, err := netip.ParseAddr(r.Value)
			if err != nil || !a.Is6() || a.Is4In6() {
				return rs, fmt.Sprintf("AAAARRDATAIllegalIPv6Address (Value is not a valid IPv6 address) encountered with '%s'", r.Value)
			}
		case "CNAME", "TXT", "MX", "SRV", "NS", "PTR", "CAA", "SPF", "NAPTR", "DS", "SOA":
			if r.Value == "" || len(r.Value) > 4000 {
				return rs, fmt.Sprintf("Invalid Resource Record: value of length %d for [name='%s', type='%s']", len(r.Value), name, x.Type)
			}
		default:
			return rs, fmt.Sprintf("Invalid Resource Record type %q", x.Type)
		}
		if slices.Contains(rs.Values, r.Value) {
			return rs, fmt.Sprintf("Duplicate Resource Record: '%s'", r.Value)
		}
		rs.Values = append(rs.Values, r.Value)
	}
	return rs, ""
}

// canonicalName lower-cases a DNS name and adds the trailing dot.
func canonicalName(s string) (string, error) {
	if s == "" {
		return "", errors.New("empty name")
	}
	if len(s) > 255 {
		return "", errors.New("name longer than 255 characters")
	}
	s = strings.ToLower(s)
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	if s == "." {
		return s, nil
	}
	for label := range strings.SplitSeq(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 {
			return "", fmt.Errorf("bad label in %q", s)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if c <= ' ' || c >= 0x7f {
				return "", fmt.Errorf("bad character %q in %q", c, s)
			}
		}
	}
	return s, nil
}

// sameValues compares two value lists as sets, as Route 53 does.
func sameValues(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, v := range a {
		if !slices.Contains(b, v) {
			return false
		}
	}
	return true
}

// reversedName orders names as Route 53 lists them: by labels from the
// right.
func reversedName(n string) string {
	labels := strings.Split(strings.TrimSuffix(n, "."), ".")
	slices.Reverse(labels)
	return strings.Join(labels, ".")
}

func compareKeys(a, b rrKey) int {
	if c := strings.Compare(reversedName(a.name), reversedName(b.name)); c != 0 {
		return c
	}
	return strings.Compare(a.typ, b.typ)
}

func (e *Emulator) listLocked(id string, q map[string][]string) (any, *apiError) {
	z, apiErr := e.zoneLocked(id)
	if apiErr != nil {
		return nil, apiErr
	}
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	maxItems := 300
	if s := get("maxitems"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return nil, clientError("InvalidInput", "1 validation error detected: Value '%s' at 'maxItems' failed to satisfy constraint", s)
		}
		maxItems = min(n, 300)
	}
	var start rrKey
	if s := get("name"); s != "" {
		n, err := canonicalName(s)
		if err != nil {
			return nil, clientError("InvalidInput", "Invalid name %q: %v", s, err)
		}
		start.name = n
	} else if get("type") != "" {
		return nil, clientError("InvalidInput", "The input is not valid: type requires name")
	}
	start.typ = get("type")
	keys := make([]rrKey, 0, len(z.records))
	for k := range z.records {
		if start.name == "" || compareKeys(k, start) >= 0 {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, compareKeys)
	resp := listResourceRecordSetsResponse{Xmlns: xmlns, MaxItems: strconv.Itoa(maxItems)}
	for i, k := range keys {
		if i == maxItems {
			resp.IsTruncated = true
			resp.NextRecordName, resp.NextRecordType = k.name, k.typ
			break
		}
		rs := z.records[k]
		ttl := rs.TTL
		x := xmlRRSet{Name: rs.Name, Type: rs.Type, TTL: &ttl, ResourceRecords: &xmlRecords{}}
		for _, v := range rs.Values {
			x.ResourceRecords.Records = append(x.ResourceRecords.Records, xmlRecord{Value: v})
		}
		resp.RRSets = append(resp.RRSets, x)
	}
	return resp, nil
}

func (e *Emulator) getChangeLocked(id string) (any, *apiError) {
	c, ok := e.changes[id]
	if !ok {
		return nil, newAPIError(http.StatusNotFound, "NoSuchChange", "Could not find resource with ID: %s", id)
	}
	status := "INSYNC"
	if c.polls < e.opts.PendingPolls {
		status = "PENDING"
	}
	c.polls++
	return getChangeResponse{Xmlns: xmlns, ChangeInfo: changeInfo(c, status)}, nil
}

// Package ec2emu owns haraft's wire-compatible emulator of the Amazon EC2
// Query API, used to exercise the EIP mover with the real aws-sdk-go-v2
// client and the real AWS CLI without any network beyond loopback.
//
// An Emulator is an http.Handler. On any path except /_emu/ it speaks the EC2
// Query protocol ("ec2query"): form-encoded requests (POST body or GET query
// string) signed with SigV4, XML responses and errors in EC2's own shapes. It
// implements the Elastic IP actions the mover needs (AllocateAddress,
// AssociateAddress, DescribeAddresses, DisassociateAddress, ReleaseAddress)
// and a minimal DescribeInstances. Under /_emu/ it serves a small JSON admin
// API (no SigV4) to seed state, set faults and read state and history.
//
// Faults (latency, throttling, server errors, errors after a committed
// change, and an eventually consistent DescribeAddresses) are deterministic
// for a given Options.Seed and call order where they can be.
//
// IMDSHandler serves an IMDSv2 endpoint for one emulated instance.
package ec2emu

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// Errors returned by the Go methods that change state; they are wrapped with
// details, so test with errors.Is.
var (
	// ErrExists is returned when an ID or address is already in use.
	ErrExists = errors.New("ec2emu: already exists")
	// ErrNotFound is returned when a referenced instance, interface or
	// address is unknown.
	ErrNotFound = errors.New("ec2emu: not found")
	// ErrInvalid is returned for malformed input.
	ErrInvalid = errors.New("ec2emu: invalid")
)

const (
	defaultAccountID = "123456789012"
	defaultRegion    = "us-east-1"
	defaultMaxSkew   = 15 * time.Minute
	// maxVersions bounds the per-address history kept for DescribeLag.
	maxVersions = 512
)

// Options configures an Emulator. The zero value is usable.
type Options struct {
	// Region is the emulated region: the default for instances without an
	// AZ and the networkBorderGroup of addresses. Default "us-east-1".
	Region string
	// Regions lists the regions accepted in a request's SigV4 credential
	// scope. Empty accepts any region.
	Regions []string
	// AccountID is the owner ID shown in responses. Default "123456789012".
	AccountID string
	// Seed seeds the generators of IDs, request IDs and random faults: the
	// same seed and the same sequence of calls give the same results.
	Seed uint64
	// Logger receives one record per API call. Default: discard.
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// MaxClockSkew is how far X-Amz-Date may be from Now. Default 15
	// minutes; negative disables the check.
	MaxClockSkew time.Duration
	// PublicIPPool is where AllocateAddress takes addresses from. Default
	// 203.0.113.0/24 (TEST-NET-3, never routed).
	PublicIPPool netip.Prefix
	// Credentials are added as by AddCredentials.
	Credentials []Credentials
}

// Instance is an emulated EC2 instance with one primary network interface.
type Instance struct {
	ID        string `json:"id"`
	AZ        string `json:"az,omitempty"`
	ENI       string `json:"eni,omitempty"`
	PrivateIP string `json:"private_ip,omitempty"`
	// SecondaryIPs are further private addresses of the interface that an
	// EIP may be associated with (PrivateIpAddress).
	SecondaryIPs []string `json:"secondary_ips,omitempty"`
	InstanceType string   `json:"instance_type,omitempty"`
	// Tags are the instance's tags (filters tag:KEY and tag-key).
	Tags map[string]string `json:"tags,omitempty"`
	// State is the instance state name (pending, running, shutting-down,
	// terminated, stopping, stopped); empty is running.
	State string `json:"state,omitempty"`
}

// instanceStateCodes are EC2's codes for the instance state names.
var instanceStateCodes = map[string]int{"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}

// SetInstanceState changes an instance's state (see Instance.State).
func (e *Emulator) SetInstanceState(id, state string) error {
	if _, ok := instanceStateCodes[state]; !ok {
		return fmt.Errorf("set instance %s state %q: %w", id, state, ErrInvalid)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	in, ok := e.instances[id]
	if !ok {
		return fmt.Errorf("set instance %s state: %w", id, ErrNotFound)
	}
	in.State = state
	return nil
}

// SetInstanceTags replaces an instance's tags (CreateTags/DeleteTags as an
// operator or an autoscaler would run them).
func (e *Emulator) SetInstanceTags(id string, tags map[string]string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	in, ok := e.instances[id]
	if !ok {
		return fmt.Errorf("set instance %s tags: %w", id, ErrNotFound)
	}
	in.Tags = maps.Clone(tags)
	return nil
}

// Address is an Elastic IP and its association, if any.
type Address struct {
	AllocationID       string `json:"allocation_id"`
	PublicIP           string `json:"public_ip"`
	Domain             string `json:"domain,omitempty"`
	AssociationID      string `json:"association_id,omitempty"`
	InstanceID         string `json:"instance_id,omitempty"`
	NetworkInterfaceID string `json:"network_interface_id,omitempty"`
	PrivateIP          string `json:"private_ip,omitempty"`
}

// Associated reports whether the address has a holder.
func (a Address) Associated() bool { return a.AssociationID != "" }

// Credentials is an access key the emulator accepts.
type Credentials struct {
	AccessKey string `json:"access_key"`
	Secret    string `json:"secret"`
	// AllowedActions limits the key to these actions; empty allows all.
	AllowedActions []string `json:"allowed_actions,omitempty"`
}

// AssociationEvent records one change of an address's holder. New* fields
// describe the holder after the change (empty when disassociated), Prev*
// the holder before it (empty when it had none).
type AssociationEvent struct {
	Seq          uint64    `json:"seq"`
	Time         time.Time `json:"time"`
	Cause        string    `json:"cause"` // API action or "admin"
	AllocationID string    `json:"allocation_id"`
	PublicIP     string    `json:"public_ip"`

	AssociationID      string `json:"association_id,omitempty"`
	InstanceID         string `json:"instance_id,omitempty"`
	NetworkInterfaceID string `json:"network_interface_id,omitempty"`
	PrivateIP          string `json:"private_ip,omitempty"`

	PrevAssociationID      string `json:"prev_association_id,omitempty"`
	PrevInstanceID         string `json:"prev_instance_id,omitempty"`
	PrevNetworkInterfaceID string `json:"prev_network_interface_id,omitempty"`
	PrevPrivateIP          string `json:"prev_private_ip,omitempty"`
}

// CallStats counts the API calls of one action.
type CallStats struct {
	Calls  int            `json:"calls"`
	OK     int            `json:"ok"`
	Errors map[string]int `json:"errors,omitempty"` // by error code
}

type instanceRec struct {
	Instance
	reservationID string
	imageID       string
	launched      time.Time
}

// addrVersion is the state of one address from time at on; gone marks a
// released address.
type addrVersion struct {
	at   time.Time
	addr Address
	gone bool
}

// Emulator is an in-memory EC2 Query API. Create it with New.
type Emulator struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time

	mu            sync.Mutex
	idRand        *rand.Rand
	faultRand     *rand.Rand
	instances     map[string]*instanceRec
	instanceOrder []string
	enis          map[string]string // ENI ID -> instance ID
	addrs         map[string]*Address
	addrOrder     []string // allocation IDs, creation order, including released
	versions      map[string][]addrVersion
	creds         map[string]Credentials
	faults        Faults
	faultCalls    int
	events        []AssociationEvent
	watchers      map[int]func(AssociationEvent)
	nextWatcher   int
	changed       chan struct{}
	stats         map[string]*CallStats

	// notifyMu orders the delivery of events to watchers; it is taken while
	// mu is held and released after delivery.
	notifyMu sync.Mutex
}

// New returns an Emulator with no instances or addresses.
func New(opts Options) *Emulator {
	if opts.Region == "" {
		opts.Region = defaultRegion
	}
	if opts.AccountID == "" {
		opts.AccountID = defaultAccountID
	}
	if opts.MaxClockSkew == 0 {
		opts.MaxClockSkew = defaultMaxSkew
	}
	if !opts.PublicIPPool.IsValid() {
		opts.PublicIPPool = netip.MustParsePrefix("203.0.113.0/24")
	}
	opts.Regions = slices.Clone(opts.Regions)
	e := &Emulator{
		opts:      opts,
		log:       opts.Logger,
		now:       opts.Now,
		idRand:    rand.New(rand.NewPCG(opts.Seed, 0x1d5)),
		faultRand: rand.New(rand.NewPCG(opts.Seed, 0xfa17)),
		instances: map[string]*instanceRec{},
		enis:      map[string]string{},
		addrs:     map[string]*Address{},
		versions:  map[string][]addrVersion{},
		creds:     map[string]Credentials{},
		watchers:  map[int]func(AssociationEvent){},
		changed:   make(chan struct{}),
		stats:     map[string]*CallStats{},
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.now == nil {
		e.now = time.Now
	}
	for _, c := range opts.Credentials {
		// Credentials given in Options are trusted; a bad one is skipped
		// with a log record rather than failing New.
		if err := e.AddCredentials(c); err != nil {
			e.log.Warn("ec2emu: skipping credentials", "err", err)
		}
	}
	return e
}

// ServeHTTP serves the EC2 Query API, and the admin API under /_emu/.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, adminPrefix) {
		e.serveAdmin(w, r)
		return
	}
	e.serveQuery(w, r)
}

// AddInstance adds a running instance. An empty AZ becomes the region's
// "a" zone; an empty ENI or PrivateIP is generated.
func (e *Emulator) AddInstance(in Instance) error {
	if in.ID == "" {
		return fmt.Errorf("add instance: empty id: %w", ErrInvalid)
	}
	if in.PrivateIP != "" {
		if _, err := netip.ParseAddr(in.PrivateIP); err != nil {
			return fmt.Errorf("add instance %s: private ip: %w: %w", in.ID, ErrInvalid, err)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.instances[in.ID]; ok {
		return fmt.Errorf("add instance %s: %w", in.ID, ErrExists)
	}
	if in.AZ == "" {
		in.AZ = e.opts.Region + "a"
	}
	if in.ENI == "" {
		in.ENI = "eni-" + e.hexIDLocked(17)
	}
	if _, ok := e.enis[in.ENI]; ok {
		return fmt.Errorf("add instance %s: network interface %s: %w", in.ID, in.ENI, ErrExists)
	}
	if in.PrivateIP == "" {
		in.PrivateIP = fmt.Sprintf("10.0.%d.%d", e.idRand.IntN(256), 1+e.idRand.IntN(254))
	}
	if in.InstanceType == "" {
		in.InstanceType = "t3.micro"
	}
	if in.State == "" {
		in.State = "running"
	}
	if _, ok := instanceStateCodes[in.State]; !ok {
		return fmt.Errorf("add instance %s: state %q: %w", in.ID, in.State, ErrInvalid)
	}
	in.Tags = maps.Clone(in.Tags)
	in.SecondaryIPs = slices.Clone(in.SecondaryIPs)
	e.instances[in.ID] = &instanceRec{
		Instance:      in,
		reservationID: "r-" + e.hexIDLocked(17),
		imageID:       "ami-" + e.hexIDLocked(17),
		launched:      e.now().UTC().Truncate(time.Second),
	}
	e.instanceOrder = append(e.instanceOrder, in.ID)
	e.enis[in.ENI] = in.ID
	return nil
}

// Instances returns the instances in the order they were added.
func (e *Emulator) Instances() []Instance {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Instance, 0, len(e.instanceOrder))
	for _, id := range e.instanceOrder {
		in := e.instances[id].Instance
		in.SecondaryIPs = slices.Clone(in.SecondaryIPs)
		in.Tags = maps.Clone(in.Tags)
		out = append(out, in)
	}
	return out
}

// AddAddress adds an Elastic IP. If InstanceID or NetworkInterfaceID is set
// it starts associated there (PrivateIP defaults to the interface's primary
// address). Seeded addresses are visible to DescribeAddresses at once, even
// under DescribeLag.
func (e *Emulator) AddAddress(a Address) error {
	if a.AllocationID == "" || a.PublicIP == "" {
		return fmt.Errorf("add address: allocation_id and public_ip are required: %w", ErrInvalid)
	}
	if _, err := netip.ParseAddr(a.PublicIP); err != nil {
		return fmt.Errorf("add address %s: public ip: %w: %w", a.AllocationID, ErrInvalid, err)
	}
	if a.Domain == "" {
		a.Domain = "vpc"
	}
	e.mu.Lock()
	if _, ok := e.addrs[a.AllocationID]; ok {
		e.mu.Unlock()
		return fmt.Errorf("add address %s: %w", a.AllocationID, ErrExists)
	}
	if e.addressByPublicIPLocked(a.PublicIP) != nil {
		e.mu.Unlock()
		return fmt.Errorf("add address %s: public ip %s: %w", a.AllocationID, a.PublicIP, ErrExists)
	}
	target := a
	a.AssociationID, a.InstanceID, a.NetworkInterfaceID, a.PrivateIP = "", "", "", ""
	e.addrs[a.AllocationID] = &a
	e.addrOrder = append(e.addrOrder, a.AllocationID)
	e.recordVersionLocked(&a, time.Time{})
	if target.InstanceID == "" && target.NetworkInterfaceID == "" {
		e.mu.Unlock()
		return nil
	}
	evs, apiErr := e.associateLocked("admin", &a, target.InstanceID, target.NetworkInterfaceID, target.PrivateIP, false, time.Time{})
	if apiErr != nil {
		// Undo the half-added address.
		delete(e.addrs, a.AllocationID)
		delete(e.versions, a.AllocationID)
		e.addrOrder = e.addrOrder[:len(e.addrOrder)-1]
		e.mu.Unlock()
		err := ErrInvalid
		if strings.HasSuffix(apiErr.Code, ".NotFound") {
			err = ErrNotFound
		}
		return fmt.Errorf("add address %s: %s: %w", a.AllocationID, apiErr.Message, err)
	}
	e.unlockAndNotify(evs)
	return nil
}

// Addresses returns the current addresses (not lagged), in creation order.
func (e *Emulator) Addresses() []Address {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.addressesLocked()
}

func (e *Emulator) addressesLocked() []Address {
	out := make([]Address, 0, len(e.addrs))
	for _, id := range e.addrOrder {
		if a, ok := e.addrs[id]; ok {
			out = append(out, *a)
		}
	}
	return out
}

// AddCredentials adds or replaces an access key.
func (e *Emulator) AddCredentials(c Credentials) error {
	if c.AccessKey == "" || c.Secret == "" {
		return fmt.Errorf("add credentials: access_key and secret are required: %w", ErrInvalid)
	}
	c.AllowedActions = slices.Clone(c.AllowedActions)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.creds[c.AccessKey] = c
	return nil
}

// SetFaults replaces the fault configuration and restarts the call count
// that ThrottleEvery and the other Every fields use.
func (e *Emulator) SetFaults(f Faults) {
	f.Actions = slices.Clone(f.Actions)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = f
	e.faultCalls = 0
}

// CurrentFaults returns the fault configuration in force.
func (e *Emulator) CurrentFaults() Faults {
	e.mu.Lock()
	defer e.mu.Unlock()
	f := e.faults
	f.Actions = slices.Clone(f.Actions)
	return f
}

// Associations returns every association change so far, oldest first.
func (e *Emulator) Associations() []AssociationEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.events)
}

// OnAssociationChange calls fn for every later association change, in
// order, after the change is visible in Addresses. fn runs on the goroutine
// that made the change and must neither block for long nor change the
// emulator. The returned function stops the calls.
func (e *Emulator) OnAssociationChange(fn func(AssociationEvent)) (cancel func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	id := e.nextWatcher
	e.nextWatcher++
	e.watchers[id] = fn
	return func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		delete(e.watchers, id)
	}
}

// WaitFor blocks until cond holds for the current addresses, or ctx ends,
// and returns the addresses it last saw.
func (e *Emulator) WaitFor(ctx context.Context, cond func([]Address) bool) ([]Address, error) {
	for {
		e.mu.Lock()
		addrs := e.addressesLocked()
		ch := e.changed
		e.mu.Unlock()
		if cond(addrs) {
			return addrs, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return addrs, fmt.Errorf("ec2emu: wait for addresses: %w", ctx.Err())
		}
	}
}

// Stats returns per-action call counts; requests without a known action
// are counted under "".
func (e *Emulator) Stats() map[string]CallStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]CallStats, len(e.stats))
	for k, v := range e.stats {
		c := *v
		if v.Errors != nil {
			c.Errors = make(map[string]int, len(v.Errors))
			for code, n := range v.Errors {
				c.Errors[code] = n
			}
		}
		out[k] = c
	}
	return out
}

// ResetStats zeroes the call counts.
func (e *Emulator) ResetStats() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stats = map[string]*CallStats{}
}

func (e *Emulator) countCallLocked(action, code string) {
	s := e.stats[action]
	if s == nil {
		s = &CallStats{}
		e.stats[action] = s
	}
	s.Calls++
	if code == "" {
		s.OK++
		return
	}
	if s.Errors == nil {
		s.Errors = map[string]int{}
	}
	s.Errors[code]++
}

func (e *Emulator) addressByPublicIPLocked(ip string) *Address {
	for _, id := range e.addrOrder {
		if a, ok := e.addrs[id]; ok && a.PublicIP == ip {
			return a
		}
	}
	return nil
}

// recordVersionLocked appends the address's state from at on, for lagged
// reads.
func (e *Emulator) recordVersionLocked(a *Address, at time.Time) {
	vs := append(e.versions[a.AllocationID], addrVersion{at: at, addr: *a})
	if len(vs) > maxVersions {
		vs = slices.Delete(vs, 0, len(vs)-maxVersions)
	}
	e.versions[a.AllocationID] = vs
}

func (e *Emulator) recordGoneLocked(allocationID string, at time.Time) {
	e.versions[allocationID] = append(e.versions[allocationID], addrVersion{at: at, gone: true})
}

// addressesAtLocked returns the addresses as they were at t.
func (e *Emulator) addressesAtLocked(t time.Time) []Address {
	out := make([]Address, 0, len(e.addrOrder))
	for _, id := range e.addrOrder {
		vs := e.versions[id]
		i := len(vs) - 1
		for i >= 0 && vs[i].at.After(t) {
			i--
		}
		if i >= 0 && !vs[i].gone {
			out = append(out, vs[i].addr)
		}
	}
	return out
}

// appendEventLocked logs a change and wakes WaitFor callers.
func (e *Emulator) appendEventLocked(ev AssociationEvent) AssociationEvent {
	ev.Seq = uint64(len(e.events)) + 1
	e.events = append(e.events, ev)
	close(e.changed)
	e.changed = make(chan struct{})
	return ev
}

// unlockAndNotify releases mu and delivers evs to the watchers, keeping the
// order in which the changes were made.
func (e *Emulator) unlockAndNotify(evs []AssociationEvent) {
	if len(evs) == 0 || len(e.watchers) == 0 {
		e.mu.Unlock()
		return
	}
	fns := make([]func(AssociationEvent), 0, len(e.watchers))
	ids := make([]int, 0, len(e.watchers))
	for id := range e.watchers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		fns = append(fns, e.watchers[id])
	}
	e.notifyMu.Lock()
	e.mu.Unlock()
	defer e.notifyMu.Unlock()
	for _, ev := range evs {
		for _, fn := range fns {
			fn(ev)
		}
	}
}

func (e *Emulator) hexIDLocked(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[e.idRand.IntN(16)]
	}
	return string(b)
}

func (e *Emulator) requestIDLocked() string {
	h := e.hexIDLocked(32)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// regionOfAZ maps "us-east-1a" to "us-east-1".
func regionOfAZ(az string) string {
	if az != "" {
		if c := az[len(az)-1]; c >= 'a' && c <= 'z' {
			return az[:len(az)-1]
		}
	}
	return az
}

// stableID derives a resource ID from a name, for IDs that must be the same
// for the same input (subnets and VPCs of an AZ).
func stableID(prefix, name string) string {
	h := fnv.New64a()
	h.Write([]byte(name))
	return fmt.Sprintf("%s-%017x", prefix, h.Sum64()&0xfffffffffffffff)
}

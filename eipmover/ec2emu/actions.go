package ec2emu

import (
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/haraft/haraft/eipmover/internal/sigv4"
)

// maxBody bounds a Query API request body.
const maxBody = 1 << 20

// call is one Query API request in flight.
type call struct {
	action    string
	requestID string
	accessKey string
	p         params
}

type actionFunc func(e *Emulator, c *call) (any, *apiError)

// lookupAction returns the handler of an EC2 action, or nil.
func lookupAction(name string) actionFunc {
	switch name {
	case "AllocateAddress":
		return (*Emulator).actAllocateAddress
	case "AssociateAddress":
		return (*Emulator).actAssociateAddress
	case "DescribeAddresses":
		return (*Emulator).actDescribeAddresses
	case "DescribeInstances":
		return (*Emulator).actDescribeInstances
	case "DisassociateAddress":
		return (*Emulator).actDisassociateAddress
	case "ReleaseAddress":
		return (*Emulator).actReleaseAddress
	}
	return nil
}

func (e *Emulator) serveQuery(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	e.mu.Lock()
	c := &call{requestID: e.requestIDLocked()}
	e.mu.Unlock()

	resp, apiErr := e.handleQuery(r, c)

	status, code := http.StatusOK, ""
	if apiErr != nil {
		status, code = apiErr.Status, apiErr.Code
	}
	statsKey := c.action
	if lookupAction(statsKey) == nil {
		statsKey = ""
	}
	// Count before answering, so that a caller that has its answer sees the
	// call counted.
	e.mu.Lock()
	e.countCallLocked(statsKey, code)
	e.mu.Unlock()

	if apiErr != nil {
		writeError(w, c.requestID, apiErr)
	} else {
		writeXML(w, http.StatusOK, resp)
	}

	level := slog.LevelInfo
	attrs := []slog.Attr{
		slog.String("action", c.action),
		slog.String("access_key", c.accessKey),
		slog.Int("status", status),
		slog.String("request_id", c.requestID),
		slog.Duration("duration", time.Since(start)),
		slog.String("remote", r.RemoteAddr),
	}
	if apiErr != nil {
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("code", code), slog.String("message", apiErr.Message))
	}
	e.log.LogAttrs(r.Context(), level, "ec2 call", attrs...)
}

// handleQuery parses, authenticates, authorizes, injects faults and runs
// one call.
func (e *Emulator) handleQuery(r *http.Request, c *call) (any, *apiError) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		return nil, newAPIError(http.StatusMethodNotAllowed, "InvalidHttpRequest", "The HTTP method %s is not supported; use POST or GET", r.Method)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, clientError("InvalidHttpRequest", "Reading the request body failed: %v", err)
	}
	if len(body) > maxBody {
		return nil, newAPIError(http.StatusRequestEntityTooLarge, "InvalidHttpRequest", "The request body is larger than %d bytes", maxBody)
	}
	vals, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, clientError("MalformedQueryString", "The query string is malformed: %v", err)
	}
	if r.Method == http.MethodPost && len(body) > 0 {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, clientError("MalformedQueryString", "The request body is malformed: %v", err)
		}
		for k, vs := range form {
			vals[k] = append(vals[k], vs...)
		}
	}
	c.p = params{vals}
	c.action = vals.Get("Action")

	v := sigv4.Verifier{
		Service: "ec2",
		Regions: e.opts.Regions,
		MaxSkew: e.opts.MaxClockSkew,
		Now:     e.now(),
		Secret: func(ak string) (string, bool) {
			e.mu.Lock()
			defer e.mu.Unlock()
			cr, ok := e.creds[ak]
			return cr.Secret, ok
		},
	}
	ak, apiErr := verifySignature(&v, r, body)
	c.accessKey = ak
	if apiErr != nil {
		return nil, apiErr
	}

	if c.action == "" {
		return nil, clientError("MissingAction", "The request must contain the parameter Action")
	}
	fn := lookupAction(c.action)
	if fn == nil {
		return nil, clientError("InvalidAction", "The action %s is not valid for this web service.", c.action)
	}

	e.mu.Lock()
	allowed := e.creds[ak].AllowedActions
	permitted := len(allowed) == 0 || slices.Contains(allowed, c.action)
	var plan faultPlan
	if permitted {
		plan = e.planFaultsLocked(c.action)
	}
	e.mu.Unlock()
	if !permitted {
		return nil, errUnauthorized()
	}
	if err := sleepCtx(r.Context(), plan.latency); err != nil {
		return nil, errInternal()
	}
	if plan.before != nil {
		return nil, plan.before
	}
	dry, apiErr := c.p.boolean("DryRun")
	if apiErr != nil {
		return nil, apiErr
	}
	if dry {
		return nil, newAPIError(http.StatusPreconditionFailed, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.")
	}
	resp, apiErr := fn(e, c)
	if apiErr == nil && plan.afterCommit {
		return nil, errInternal()
	}
	return resp, apiErr
}

// --- AllocateAddress / ReleaseAddress ---

func (e *Emulator) actAllocateAddress(c *call) (any, *apiError) {
	domain := c.p.Get("Domain")
	switch domain {
	case "":
		domain = "vpc"
	case "vpc", "standard":
	default:
		return nil, clientError("InvalidParameterValue", "Value (%s) for parameter domain is invalid.", domain)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	used := map[string]bool{}
	for _, a := range e.addrs {
		used[a.PublicIP] = true
	}
	pool := e.opts.PublicIPPool.Masked()
	var ip netip.Addr
	for cand := pool.Addr().Next(); pool.Contains(cand); cand = cand.Next() {
		if !used[cand.String()] {
			ip = cand
			break
		}
	}
	if !ip.IsValid() {
		return nil, clientError("AddressLimitExceeded", "The maximum number of addresses has been reached.")
	}
	a := &Address{AllocationID: "eipalloc-" + e.hexIDLocked(17), PublicIP: ip.String(), Domain: domain}
	e.addrs[a.AllocationID] = a
	e.addrOrder = append(e.addrOrder, a.AllocationID)
	e.recordVersionLocked(a, e.now())
	return allocateAddressResponse{
		Xmlns: ec2XMLNS, RequestID: c.requestID,
		PublicIP: a.PublicIP, Domain: a.Domain, AllocationID: a.AllocationID,
		PublicIpv4Pool: "amazon", NetworkBorderGroup: e.opts.Region,
	}, nil
}

func (e *Emulator) actReleaseAddress(c *call) (any, *apiError) {
	allocID, publicIP := c.p.Get("AllocationId"), c.p.Get("PublicIp")
	if allocID == "" && publicIP == "" {
		return nil, clientError("MissingParameter", "Either public IP or allocation id must be specified")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	a, apiErr := e.findAddressLocked(allocID, publicIP)
	if apiErr != nil {
		return nil, apiErr
	}
	if a.Associated() {
		return nil, clientError("InvalidIPAddress.InUse", "Address %s is in use.", a.PublicIP)
	}
	delete(e.addrs, a.AllocationID)
	e.recordGoneLocked(a.AllocationID, e.now())
	return releaseAddressResponse{Xmlns: ec2XMLNS, RequestID: c.requestID, Return: true}, nil
}

// findAddressLocked finds an address by allocation ID, else by public IP.
func (e *Emulator) findAddressLocked(allocID, publicIP string) (*Address, *apiError) {
	if allocID != "" {
		a, ok := e.addrs[allocID]
		if !ok {
			return nil, clientError("InvalidAllocationID.NotFound", "The allocation ID '%s' does not exist", allocID)
		}
		return a, nil
	}
	a := e.addressByPublicIPLocked(publicIP)
	if a == nil {
		return nil, newAPIError(http.StatusUnauthorized, "AuthFailure", "The address '%s' does not belong to you.", publicIP)
	}
	return a, nil
}

// --- AssociateAddress / DisassociateAddress ---

func (e *Emulator) actAssociateAddress(c *call) (any, *apiError) {
	allocID, publicIP := c.p.Get("AllocationId"), c.p.Get("PublicIp")
	instID, eniID := c.p.Get("InstanceId"), c.p.Get("NetworkInterfaceId")
	privIP := c.p.Get("PrivateIpAddress")
	allow, apiErr := c.p.boolean("AllowReassociation")
	if apiErr != nil {
		return nil, apiErr
	}
	if allocID == "" && publicIP == "" {
		return nil, clientError("MissingParameter", "Either public IP or allocation id must be specified")
	}
	e.mu.Lock()
	a, apiErr := e.findAddressLocked(allocID, publicIP)
	if apiErr != nil {
		e.mu.Unlock()
		return nil, apiErr
	}
	evs, apiErr := e.associateLocked(c.action, a, instID, eniID, privIP, allow, e.now())
	if apiErr != nil {
		e.mu.Unlock()
		return nil, apiErr
	}
	resp := associateAddressResponse{Xmlns: ec2XMLNS, RequestID: c.requestID, Return: true, AssociationID: a.AssociationID}
	e.unlockAndNotify(evs)
	return resp, nil
}

// associateLocked associates a with an instance's primary interface or with
// an interface, as EC2 does for VPC addresses. Associating an address again
// with its current holder changes nothing and keeps the association ID.
// versionAt is when the change becomes visible to lagged reads.
func (e *Emulator) associateLocked(cause string, a *Address, instID, eniID, privIP string, allow bool, versionAt time.Time) ([]AssociationEvent, *apiError) {
	var inst *instanceRec
	switch {
	case instID != "" && eniID != "":
		return nil, clientError("InvalidParameterCombination", "You may specify an instance ID or a network interface ID, but not both.")
	case instID != "":
		inst = e.instances[instID]
		if inst == nil {
			return nil, clientError("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", instID)
		}
		eniID = inst.ENI
	case eniID != "":
		owner, ok := e.enis[eniID]
		if !ok {
			return nil, clientError("InvalidNetworkInterfaceID.NotFound", "The networkInterface ID '%s' does not exist", eniID)
		}
		inst = e.instances[owner]
	default:
		return nil, clientError("MissingParameter", "Either an instance ID or a network interface ID must be specified")
	}
	if privIP == "" {
		privIP = inst.PrivateIP
	} else if privIP != inst.PrivateIP && !slices.Contains(inst.SecondaryIPs, privIP) {
		return nil, clientError("InvalidParameterValue", "The private IP address %s is not assigned to network interface %s", privIP, eniID)
	}
	if a.Associated() && a.NetworkInterfaceID == eniID && a.PrivateIP == privIP {
		return nil, nil
	}
	if a.Associated() && !allow {
		return nil, clientError("Resource.AlreadyAssociated", "resource %s is already associated with associate-id %s", a.AllocationID, a.AssociationID)
	}
	var displaced *Address
	for _, other := range e.addrs {
		if other != a && other.Associated() && other.NetworkInterfaceID == eniID && other.PrivateIP == privIP {
			displaced = other
			break
		}
	}
	if displaced != nil && !allow {
		return nil, clientError("Resource.AlreadyAssociated", "resource %s and %s is already associated with public address %s", eniID, privIP, displaced.PublicIP)
	}
	var evs []AssociationEvent
	if displaced != nil {
		evs = append(evs, e.disassociateLocked(cause, displaced, versionAt))
	}
	prev := *a
	a.AssociationID = "eipassoc-" + e.hexIDLocked(17)
	a.InstanceID, a.NetworkInterfaceID, a.PrivateIP = inst.ID, eniID, privIP
	e.recordVersionLocked(a, versionAt)
	evs = append(evs, e.appendEventLocked(AssociationEvent{
		Time: e.now(), Cause: cause, AllocationID: a.AllocationID, PublicIP: a.PublicIP,
		AssociationID: a.AssociationID, InstanceID: a.InstanceID,
		NetworkInterfaceID: a.NetworkInterfaceID, PrivateIP: a.PrivateIP,
		PrevAssociationID: prev.AssociationID, PrevInstanceID: prev.InstanceID,
		PrevNetworkInterfaceID: prev.NetworkInterfaceID, PrevPrivateIP: prev.PrivateIP,
	}))
	return evs, nil
}

func (e *Emulator) disassociateLocked(cause string, a *Address, versionAt time.Time) AssociationEvent {
	prev := *a
	a.AssociationID, a.InstanceID, a.NetworkInterfaceID, a.PrivateIP = "", "", "", ""
	e.recordVersionLocked(a, versionAt)
	return e.appendEventLocked(AssociationEvent{
		Time: e.now(), Cause: cause, AllocationID: a.AllocationID, PublicIP: a.PublicIP,
		PrevAssociationID: prev.AssociationID, PrevInstanceID: prev.InstanceID,
		PrevNetworkInterfaceID: prev.NetworkInterfaceID, PrevPrivateIP: prev.PrivateIP,
	})
}

func (e *Emulator) actDisassociateAddress(c *call) (any, *apiError) {
	assocID, publicIP := c.p.Get("AssociationId"), c.p.Get("PublicIp")
	if assocID == "" && publicIP == "" {
		return nil, clientError("MissingParameter", "Either public IP or association id must be specified")
	}
	e.mu.Lock()
	var a *Address
	if assocID != "" {
		for _, cand := range e.addrs {
			if cand.AssociationID == assocID {
				a = cand
				break
			}
		}
		if a == nil {
			e.mu.Unlock()
			return nil, clientError("InvalidAssociationID.NotFound", "The association ID '%s' does not exist", assocID)
		}
	} else {
		var apiErr *apiError
		if a, apiErr = e.findAddressLocked("", publicIP); apiErr != nil {
			e.mu.Unlock()
			return nil, apiErr
		}
	}
	var evs []AssociationEvent
	if a.Associated() {
		evs = append(evs, e.disassociateLocked(c.action, a, e.now()))
	}
	e.unlockAndNotify(evs)
	return disassociateAddressResponse{Xmlns: ec2XMLNS, RequestID: c.requestID, Return: true}, nil
}

// --- DescribeAddresses ---

// isAddressFilter reports whether DescribeAddresses supports a filter.
func isAddressFilter(name string) bool {
	switch name {
	case "allocation-id", "association-id", "domain", "instance-id",
		"network-border-group", "network-interface-id", "network-interface-owner-id",
		"private-ip-address", "public-ip":
		return true
	}
	return false
}

func (e *Emulator) addressField(a Address, name string) string {
	switch name {
	case "allocation-id":
		return a.AllocationID
	case "association-id":
		return a.AssociationID
	case "domain":
		return a.Domain
	case "instance-id":
		return a.InstanceID
	case "network-border-group":
		return e.opts.Region
	case "network-interface-id":
		return a.NetworkInterfaceID
	case "network-interface-owner-id":
		if a.Associated() {
			return e.opts.AccountID
		}
		return ""
	case "private-ip-address":
		return a.PrivateIP
	case "public-ip":
		return a.PublicIP
	}
	return ""
}

func (e *Emulator) actDescribeAddresses(c *call) (any, *apiError) {
	allocIDs, publicIPs := c.p.list("AllocationId"), c.p.list("PublicIp")
	filters, apiErr := c.p.filters(isAddressFilter)
	if apiErr != nil {
		return nil, apiErr
	}
	e.mu.Lock()
	var view []Address
	if lag := e.faults.describeLag(c.action); lag > 0 {
		view = e.addressesAtLocked(e.now().Add(-lag))
	} else {
		view = e.addressesLocked()
	}
	e.mu.Unlock()

	for _, id := range allocIDs {
		if !slices.ContainsFunc(view, func(a Address) bool { return a.AllocationID == id }) {
			return nil, clientError("InvalidAllocationID.NotFound", "The allocation ID '%s' does not exist", id)
		}
	}
	for _, ip := range publicIPs {
		if !slices.ContainsFunc(view, func(a Address) bool { return a.PublicIP == ip }) {
			return nil, newAPIError(http.StatusUnauthorized, "AuthFailure", "The address '%s' does not belong to you.", ip)
		}
	}
	resp := describeAddressesResponse{Xmlns: ec2XMLNS, RequestID: c.requestID}
	for _, a := range view {
		if len(allocIDs) > 0 && !slices.Contains(allocIDs, a.AllocationID) ||
			len(publicIPs) > 0 && !slices.Contains(publicIPs, a.PublicIP) ||
			!matchFilters(filters, func(name string) string { return e.addressField(a, name) }) {
			continue
		}
		x := xmlAddress{
			PublicIP: a.PublicIP, AllocationID: a.AllocationID, Domain: a.Domain,
			InstanceID: a.InstanceID, AssociationID: a.AssociationID,
			NetworkInterfaceID: a.NetworkInterfaceID, PrivateIPAddress: a.PrivateIP,
			PublicIpv4Pool: "amazon", NetworkBorderGroup: e.opts.Region,
		}
		if a.Associated() {
			x.NetworkInterfaceOwnerID = e.opts.AccountID
		}
		resp.Addresses.Items = append(resp.Addresses.Items, x)
	}
	return resp, nil
}

// --- DescribeInstances ---

// isInstanceFilter reports whether DescribeInstances supports a filter.
func isInstanceFilter(name string) bool {
	switch name {
	case "availability-zone", "instance-id", "instance-state-name", "instance-type",
		"ip-address", "network-interface.network-interface-id", "private-ip-address", "tag-key":
		return true
	}
	return strings.HasPrefix(name, "tag:") && len(name) > len("tag:")
}

func (e *Emulator) actDescribeInstances(c *call) (any, *apiError) {
	ids := c.p.list("InstanceId")
	filters, apiErr := c.p.filters(isInstanceFilter)
	if apiErr != nil {
		return nil, apiErr
	}
	page, apiErr := describeInstancesPage(c.p, len(ids) > 0)
	if apiErr != nil {
		return nil, apiErr
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, id := range ids {
		if _, ok := e.instances[id]; !ok {
			return nil, clientError("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
		}
	}
	resp := describeInstancesResponse{Xmlns: ec2XMLNS, RequestID: c.requestID}
	for _, id := range e.instanceOrder {
		inst := e.instances[id]
		publicIP := e.publicIPOfLocked(inst.ENI, inst.PrivateIP)
		field := func(name string) string {
			switch name {
			case "availability-zone":
				return inst.AZ
			case "instance-id":
				return inst.ID
			case "instance-state-name":
				return inst.State
			case "tag-key":
				// Handled below: any of the keys may match.
				return ""
			case "instance-type":
				return inst.InstanceType
			case "ip-address":
				return publicIP
			case "network-interface.network-interface-id":
				return inst.ENI
			case "private-ip-address":
				return inst.PrivateIP
			}
			return ""
		}
		tagField := func(name string) string {
			if k, ok := strings.CutPrefix(name, "tag:"); ok {
				return inst.Tags[k]
			}
			return field(name)
		}
		if len(ids) > 0 && !slices.Contains(ids, id) || !matchFilters(withoutTagKey(filters), tagField) || !matchTagKey(filters, inst.Tags) {
			continue
		}
		resp.Reservations.Items = append(resp.Reservations.Items, xmlReservation{
			ReservationID: inst.reservationID,
			OwnerID:       e.opts.AccountID,
			Instances:     []xmlInstance{e.xmlInstanceLocked(inst, publicIP)},
		})
	}
	page.cut(&resp)
	return resp, nil
}

// instancesPage is the page a DescribeInstances call asked for: EC2's
// MaxResults (5..1000, not with InstanceId) and NextToken.
type instancesPage struct {
	max, from int
}

// describeInstancesPage reads MaxResults and NextToken.
func describeInstancesPage(p params, withIDs bool) (instancesPage, *apiError) {
	var pg instancesPage
	if v := p.Get("MaxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 5 || n > 1000 {
			return pg, clientError("InvalidParameterValue", "Value ( %s ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.", v)
		}
		if withIDs {
			return pg, clientError("InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults")
		}
		pg.max = n
	}
	if v := p.Get("NextToken"); v != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(v, "emu-page-"))
		if err != nil || n < 0 || !strings.HasPrefix(v, "emu-page-") {
			return pg, clientError("InvalidParameterValue", "Invalid value '%s' for nextToken", v)
		}
		pg.from = n
	}
	return pg, nil
}

// cut keeps the page's reservations and sets the token of the next one.
func (pg instancesPage) cut(resp *describeInstancesResponse) {
	items := resp.Reservations.Items
	items = items[min(pg.from, len(items)):]
	if pg.max > 0 && len(items) > pg.max {
		items = items[:pg.max]
		resp.NextToken = "emu-page-" + strconv.Itoa(pg.from+pg.max)
	}
	resp.Reservations.Items = items
}

// withoutTagKey returns the filters other than tag-key (a tag:KEY filter
// reads a missing tag as "").
func withoutTagKey(fs []filter) []filter {
	return slices.DeleteFunc(slices.Clone(fs), func(f filter) bool { return f.name == "tag-key" })
}

// matchTagKey reports whether every tag-key filter matches one of the keys.
func matchTagKey(fs []filter, tags map[string]string) bool {
	for _, f := range fs {
		if f.name != "tag-key" {
			continue
		}
		if !slices.ContainsFunc(slices.Collect(maps.Keys(tags)), func(k string) bool {
			return slices.ContainsFunc(f.values, func(pat string) bool { return wildcardMatch(pat, k) })
		}) {
			return false
		}
	}
	return true
}

func xmlTagsOf(tags map[string]string) []xmlTag {
	keys := slices.Sorted(maps.Keys(tags))
	out := make([]xmlTag, 0, len(keys))
	for _, k := range keys {
		out = append(out, xmlTag{Key: k, Value: tags[k]})
	}
	return out
}

// publicIPOfLocked returns the EIP associated with an interface address.
func (e *Emulator) publicIPOfLocked(eni, privIP string) string {
	for _, a := range e.addrs {
		if a.Associated() && a.NetworkInterfaceID == eni && a.PrivateIP == privIP {
			return a.PublicIP
		}
	}
	return ""
}

func (e *Emulator) xmlInstanceLocked(inst *instanceRec, publicIP string) xmlInstance {
	region := regionOfAZ(inst.AZ)
	subnet, vpc := stableID("subnet", inst.AZ), stableID("vpc", region)
	dnsName := func(ip string) string {
		return "ip-" + strings.ReplaceAll(ip, ".", "-") + "." + region + ".compute.internal"
	}
	assoc := func(ip string) *xmlNetIfcAssociation {
		if ip == "" {
			return nil
		}
		return &xmlNetIfcAssociation{PublicIP: ip, IPOwnerID: e.opts.AccountID}
	}
	launch := inst.launched.Format("2006-01-02T15:04:05.000Z")
	ifc := xmlInstanceNetIfc{
		NetworkInterfaceID: inst.ENI, SubnetID: subnet, VpcID: vpc,
		OwnerID: e.opts.AccountID, Status: "in-use",
		PrivateIPAddress: inst.PrivateIP, PrivateDNSName: dnsName(inst.PrivateIP),
		SourceDestCheck: true,
		Attachment: xmlNetIfcAttachment{
			AttachmentID: "eni-attach-" + strings.TrimPrefix(inst.ENI, "eni-"),
			Status:       "attached", AttachTime: launch, DeleteOnTermination: true,
		},
		Association:   assoc(publicIP),
		InterfaceType: "interface",
	}
	ifc.PrivateIPs = append(ifc.PrivateIPs, xmlPrivateIP{
		PrivateIPAddress: inst.PrivateIP, PrivateDNSName: dnsName(inst.PrivateIP),
		Primary: true, Association: assoc(publicIP),
	})
	for _, ip := range inst.SecondaryIPs {
		ifc.PrivateIPs = append(ifc.PrivateIPs, xmlPrivateIP{
			PrivateIPAddress: ip, PrivateDNSName: dnsName(ip),
			Association: assoc(e.publicIPOfLocked(inst.ENI, ip)),
		})
	}
	return xmlInstance{
		InstanceID: inst.ID, ImageID: inst.imageID,
		State:          xmlInstanceState{Code: instanceStateCodes[inst.State], Name: inst.State},
		Tags:           xmlTagsOf(inst.Tags),
		PrivateDNSName: dnsName(inst.PrivateIP),
		InstanceType:   inst.InstanceType,
		LaunchTime:     launch,
		Placement:      xmlPlacement{AvailabilityZone: inst.AZ, Tenancy: "default"},
		SubnetID:       subnet, VpcID: vpc,
		PrivateIPAddress: inst.PrivateIP, IPAddress: publicIP,
		SourceDestCheck: true, Architecture: "x86_64", RootDeviceType: "ebs",
		Interfaces: []xmlInstanceNetIfc{ifc},
	}
}

// --- request parameters ---

// params are the decoded Query API parameters.
type params struct{ url.Values }

// list returns the values of name.1, name.2, … in index order.
func (p params) list(name string) []string {
	type iv struct {
		i int
		v string
	}
	var items []iv
	for k, vs := range p.Values {
		rest, ok := strings.CutPrefix(k, name+".")
		if !ok || len(vs) == 0 {
			continue
		}
		i, err := strconv.Atoi(rest)
		if err != nil {
			continue
		}
		items = append(items, iv{i, vs[0]})
	}
	slices.SortFunc(items, func(a, b iv) int { return a.i - b.i })
	out := make([]string, len(items))
	for j, it := range items {
		out[j] = it.v
	}
	return out
}

func (p params) boolean(name string) (bool, *apiError) {
	s := p.Get(name)
	if s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(strings.ToLower(s))
	if err != nil {
		return false, clientError("InvalidParameterValue", "Value (%s) for parameter %s is invalid. Expected: 'true' or 'false'.", s, name)
	}
	return b, nil
}

type filter struct {
	name   string
	values []string
}

// filters parses Filter.N.Name / Filter.N.Value.M, accepting only the
// given filter names.
func (p params) filters(known func(string) bool) ([]filter, *apiError) {
	byIndex := map[int]*filter{}
	for k, vs := range p.Values {
		rest, ok := strings.CutPrefix(k, "Filter.")
		if !ok || len(vs) == 0 {
			continue
		}
		idx, field, _ := strings.Cut(rest, ".")
		n, err := strconv.Atoi(idx)
		if err != nil {
			return nil, clientError("InvalidParameterValue", "Invalid filter parameter %s", k)
		}
		f := byIndex[n]
		if f == nil {
			f = &filter{}
			byIndex[n] = f
		}
		switch {
		case field == "Name":
			f.name = vs[0]
		case strings.HasPrefix(field, "Value."):
			f.values = append(f.values, vs[0])
		}
	}
	idxs := make([]int, 0, len(byIndex))
	for n := range byIndex {
		idxs = append(idxs, n)
	}
	slices.Sort(idxs)
	out := make([]filter, 0, len(idxs))
	for _, n := range idxs {
		f := byIndex[n]
		if f.name == "" {
			return nil, clientError("InvalidParameterValue", "The filter 'null' is invalid")
		}
		if !known(f.name) {
			return nil, clientError("InvalidParameterValue", "The filter '%s' is invalid", f.name)
		}
		out = append(out, *f)
	}
	return out, nil
}

// matchFilters reports whether every filter has a value matching the
// field; values may use EC2's * and ? wildcards.
func matchFilters(fs []filter, field func(string) string) bool {
	for _, f := range fs {
		v := field(f.name)
		if !slices.ContainsFunc(f.values, func(pat string) bool { return wildcardMatch(pat, v) }) {
			return false
		}
	}
	return true
}

// wildcardMatch matches s against pat, where * is any run of characters, ?
// any one character, and \ escapes the next character (a trailing \ is a
// literal backslash). It runs in O(len(pat)·len(s)): the obvious recursive
// matcher is exponential in the number of stars ("*a*a*a*a*a*a*b" against
// a 40-character id took seconds, with the emulator's lock held).
func wildcardMatch(pat, s string) bool {
	type tok struct {
		star, any bool
		c         byte
	}
	toks := make([]tok, 0, len(pat))
	for i := 0; i < len(pat); i++ {
		switch {
		case pat[i] == '*':
			toks = append(toks, tok{star: true})
		case pat[i] == '?':
			toks = append(toks, tok{any: true})
		case pat[i] == '\\' && i+1 < len(pat):
			i++
			toks = append(toks, tok{c: pat[i]})
		default:
			toks = append(toks, tok{c: pat[i]})
		}
	}
	// Greedy match; on a mismatch, let the last star take one more byte.
	ti, si, starT, starS := 0, 0, -1, 0
	for si < len(s) {
		switch {
		case ti < len(toks) && toks[ti].star:
			starT, starS = ti, si
			ti++
		case ti < len(toks) && (toks[ti].any || toks[ti].c == s[si]):
			ti++
			si++
		case starT >= 0:
			starS++
			si, ti = starS, starT+1
		default:
			return false
		}
	}
	for ti < len(toks) && toks[ti].star {
		ti++
	}
	return ti == len(toks)
}

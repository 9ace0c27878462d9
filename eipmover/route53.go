package eipmover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// ErrRecordConflict: Route 53 refused a fenced replace because the record
// is no longer what this node last saw (another writer, or a newer leader,
// changed it).
var ErrRecordConflict = errors.New("eipmover: route 53 record changed since it was read")

// ErrBadZone: the hosted zone does not exist, or the record's name is not
// inside it. A configuration error: nothing is written until it is fixed.
var ErrBadZone = errors.New("eipmover: route 53 hosted zone does not hold the record")

// ErrNoSuchZone (an ErrBadZone): the hosted zone does not exist.
var ErrNoSuchZone = fmt.Errorf("%w: no such hosted zone", ErrBadZone)

// Route53Config configures the Route 53 record writer.
type Route53Config struct {
	// HostedZoneID is the zone ("Z..." or "/hostedzone/Z...").
	HostedZoneID string
	// Name is the record's name, inside the zone.
	Name string
	// Region for the SDK's signing; Route 53 is global (default
	// "us-east-1").
	Region string
	// Endpoint overrides the Route 53 endpoint (the emulator).
	Endpoint string
	// MaxAttempts is the SDK's attempts per call (default 3).
	MaxAttempts int
	// MaxBackoff caps the SDK's retry delay (default 200ms).
	MaxBackoff time.Duration
	// CallTimeout bounds each API call, retries included (default 5s).
	CallTimeout time.Duration
	// LoadOptions are extra options for config.LoadDefaultConfig.
	LoadOptions []func(*config.LoadOptions) error
	Logger      *slog.Logger
}

// Record is an A record's state: its values (sorted) and TTL. A record
// that does not exist has no values.
type Record struct {
	TTL    int64
	Values []string
}

// Exists says whether the record is present.
func (r Record) Exists() bool { return len(r.Values) > 0 }

// Equal compares two records as Route 53 does (values as a set).
func (r Record) Equal(o Record) bool {
	if !r.Exists() && !o.Exists() {
		return true
	}
	return r.TTL == o.TTL && slices.Equal(sortedValues(r.Values), sortedValues(o.Values))
}

func (r Record) String() string {
	if !r.Exists() {
		return "(none)"
	}
	return fmt.Sprintf("%s ttl %d", strings.Join(sortedValues(r.Values), ","), r.TTL)
}

func sortedValues(v []string) []string {
	v = slices.Clone(v)
	slices.Sort(v)
	return slices.Compact(v)
}

// Route53 reads and writes one A record with the aws-sdk-go-v2 Route 53
// client. Writes are fenced by Route 53 itself: Replace sends one batch that
// DELETEs the record exactly as it was last read and CREATEs the new one,
// which Route 53 refuses whole (InvalidChangeBatch) if the record changed
// in between.
type Route53 struct {
	client  *route53.Client
	zone    string
	name    string
	timeout time.Duration
	log     *slog.Logger
}

// NewRoute53 loads the SDK configuration and returns the writer.
func NewRoute53(ctx context.Context, cfg Route53Config) (*Route53, error) {
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 200 * time.Millisecond
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 5 * time.Second
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	zone := strings.TrimPrefix(cfg.HostedZoneID, "/hostedzone/")
	if zone == "" || strings.Contains(zone, "/") {
		return nil, fmt.Errorf("route53: hosted zone id %q is not a zone id", cfg.HostedZoneID)
	}
	name, err := fqdn(cfg.Name)
	if err != nil {
		return nil, fmt.Errorf("route53: record name: %w", err)
	}
	opts := append([]func(*config.LoadOptions) error{
		config.WithRegion(cfg.Region),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = cfg.MaxAttempts
				o.MaxBackoff = cfg.MaxBackoff
				o.RateLimiter = ratelimit.None
			})
		}),
	}, cfg.LoadOptions...)
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("route53: load AWS config: %w", err)
	}
	client := route53.NewFromConfig(awsCfg, func(o *route53.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	return &Route53{client: client, zone: zone, name: name, timeout: cfg.CallTimeout, log: cfg.Logger}, nil
}

// fqdn lower-cases a DNS name and adds the trailing dot.
func fqdn(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" || s == "." {
		return "", errors.New("empty name")
	}
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	for l := range strings.SplitSeq(strings.TrimSuffix(s, "."), ".") {
		if l == "" || len(l) > 63 {
			return "", fmt.Errorf("%q has an empty or too long label", s)
		}
	}
	return s, nil
}

// Name returns the record's fully qualified name.
func (r *Route53) Name() string { return r.name }

// CheckZone checks that the hosted zone exists and holds the record's
// name, so a misconfiguration is reported before any change.
func (r *Route53) CheckZone(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	out, err := r.client.GetHostedZone(ctx, &route53.GetHostedZoneInput{Id: aws.String(r.zone)})
	if err != nil {
		var nsz *types.NoSuchHostedZone
		if errors.As(err, &nsz) {
			return fmt.Errorf("route53: hosted zone %s does not exist: %w: %w", r.zone, ErrNoSuchZone, err)
		}
		return fmt.Errorf("route53: hosted zone %s: %w", r.zone, err)
	}
	zn, err := fqdn(aws.ToString(out.HostedZone.Name))
	if err != nil {
		return fmt.Errorf("route53: hosted zone %s: %w", r.zone, err)
	}
	if r.name != zn && !strings.HasSuffix(r.name, "."+zn) {
		return fmt.Errorf("route53: record %s is outside hosted zone %s (%s): %w", r.name, r.zone, zn, ErrBadZone)
	}
	return nil
}

// Read returns the record as Route 53 has it now.
func (r *Route53) Read(ctx context.Context) (Record, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	out, err := r.client.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{
		HostedZoneId: aws.String(r.zone), StartRecordName: aws.String(r.name),
		StartRecordType: types.RRTypeA, MaxItems: aws.Int32(1),
	})
	if err != nil {
		return Record{}, fmt.Errorf("route53: read %s: %w", r.name, err)
	}
	for _, rs := range out.ResourceRecordSets {
		n, err := fqdn(aws.ToString(rs.Name))
		if err != nil || n != r.name || rs.Type != types.RRTypeA {
			continue
		}
		rec := Record{TTL: aws.ToInt64(rs.TTL)}
		for _, v := range rs.ResourceRecords {
			rec.Values = append(rec.Values, aws.ToString(v.Value))
		}
		rec.Values = sortedValues(rec.Values)
		return rec, nil
	}
	return Record{}, nil
}

// Replace changes the record from seen (as last read) to want in one
// fenced batch, and returns the change id. A record changed since seen
// makes Route 53 refuse the batch: the error wraps ErrRecordConflict. An
// empty want is refused here: this writer never empties the record.
func (r *Route53) Replace(ctx context.Context, seen, want Record) (string, error) {
	if !want.Exists() {
		return "", fmt.Errorf("route53: refusing to empty %s", r.name)
	}
	var changes []types.Change
	if seen.Exists() {
		changes = append(changes, types.Change{Action: types.ChangeActionDelete, ResourceRecordSet: r.rrset(seen)})
	}
	changes = append(changes, types.Change{Action: types.ChangeActionCreate, ResourceRecordSet: r.rrset(want)})
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	out, err := r.client.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(r.zone),
		ChangeBatch: &types.ChangeBatch{
			Comment: aws.String(fmt.Sprintf("haraft: %s -> %s", seen, want)),
			Changes: changes,
		},
	})
	if err != nil {
		var icb *types.InvalidChangeBatch
		if errors.As(err, &icb) {
			return "", fmt.Errorf("route53: replace %s (%s -> %s): %w: %w", r.name, seen, want, ErrRecordConflict, err)
		}
		return "", fmt.Errorf("route53: replace %s: %w", r.name, err)
	}
	return aws.ToString(out.ChangeInfo.Id), nil
}

// InSync reports whether a change has reached every Route 53 name server.
func (r *Route53) InSync(ctx context.Context, changeID string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	out, err := r.client.GetChange(ctx, &route53.GetChangeInput{Id: aws.String(changeID)})
	if err != nil {
		return false, fmt.Errorf("route53: change %s: %w", changeID, err)
	}
	return out.ChangeInfo.Status == types.ChangeStatusInsync, nil
}

func (r *Route53) rrset(rec Record) *types.ResourceRecordSet {
	rs := &types.ResourceRecordSet{Name: aws.String(r.name), Type: types.RRTypeA, TTL: aws.Int64(rec.TTL)}
	for _, v := range sortedValues(rec.Values) {
		rs.ResourceRecords = append(rs.ResourceRecords, types.ResourceRecord{Value: aws.String(v)})
	}
	return rs
}

// ValidRecordValues checks that every value is an IPv4 address, as an A
// record needs.
func ValidRecordValues(values []string) error {
	for _, v := range values {
		a, err := netip.ParseAddr(v)
		if err != nil || !a.Is4() {
			return fmt.Errorf("%q is not an IPv4 address", v)
		}
	}
	return nil
}

// route53ErrorKinds are the kinds Route53ErrorKind sorts failed calls
// into (the metrics' kind label); never written.
var route53ErrorKinds = [...]string{"throttled", "auth", "zone", "unavailable", "other"}

// Route53ErrorKinds lists the kinds Route53ErrorKind returns.
func Route53ErrorKinds() []string { return slices.Clone(route53ErrorKinds[:]) }

// Route53ErrorKind sorts a failed Route 53 call: "throttled" (Throttling,
// PriorRequestNotComplete), "auth" (no credentials, a refused signature or
// key, AccessDenied), "zone" (ErrBadZone: the zone does not exist or does
// not hold the name), "unavailable" (a 5xx, a timeout, a refused
// connection) or "other".
func Route53ErrorKind(err error) string {
	if errors.Is(err, ErrBadZone) {
		return "zone"
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "Throttling", "ThrottlingException", "PriorRequestNotComplete", "RequestLimitExceeded":
			return "throttled"
		case "AccessDenied", "AccessDeniedException", "SignatureDoesNotMatch", "InvalidClientTokenId",
			"UnrecognizedClientException", "ExpiredToken", "IncompleteSignature", "MissingAuthenticationToken", "InvalidSignatureException":
			return "auth"
		case "NoSuchHostedZone":
			return "zone"
		case "InternalFailure", "InternalError", "ServiceUnavailable":
			return "unavailable"
		}
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() >= 500 {
		return "unavailable"
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ECONNREFUSED) {
		return "unavailable"
	}
	if strings.Contains(err.Error(), "retrieve credentials") {
		return "auth"
	}
	return "other"
}

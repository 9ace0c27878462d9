package discover

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
)

// EC2Config configures an EC2 tag source.
type EC2Config struct {
	// Tags every instance must carry (tag:KEY=VALUE filters; a value may
	// use EC2's * and ? wildcards).
	Tags map[string]string
	// Port the servers listen on.
	Port int
	// Region; empty takes the SDK's chain (AWS_REGION, shared config,
	// IMDS).
	Region string
	// Endpoint overrides the EC2 endpoint (the emulator).
	Endpoint string
	// CallTimeout bounds one discovery, every page and retry included
	// (default 10s).
	CallTimeout time.Duration
	// LoadOptions are extra options for config.LoadDefaultConfig, for
	// instance static credentials.
	LoadOptions []func(*config.LoadOptions) error
}

// EC2 finds the running instances carrying the tags, by their private
// address: DescribeInstances with tag:KEY and instance-state-name=running
// filters, every page.
type EC2 struct {
	client  *ec2.Client
	cfg     EC2Config
	filters []types.Filter
}

var _ Source = (*EC2)(nil)

// NewEC2 loads the SDK configuration and returns the source.
func NewEC2(ctx context.Context, cfg EC2Config) (*EC2, error) {
	if len(cfg.Tags) == 0 {
		return nil, errors.New("ec2 discovery: at least one tag is required")
	}
	if cfg.Port <= 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("ec2 discovery: port %d is out of range 1..65535", cfg.Port)
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 10 * time.Second
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 3
				o.MaxBackoff = time.Second
				o.RateLimiter = ratelimit.None // the loop polls again anyway
			})
		}),
	}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	} else {
		opts = append(opts, config.WithEC2IMDSRegion())
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, append(opts, cfg.LoadOptions...)...)
	if err != nil {
		return nil, fmt.Errorf("ec2 discovery: load AWS config: %w", err)
	}
	if awsCfg.Region == "" {
		return nil, errors.New("ec2 discovery: no region: set servers_from.ec2.region, AWS_REGION, or run on EC2")
	}
	client := ec2.NewFromConfig(awsCfg, func(o *ec2.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	s := &EC2{client: client, cfg: cfg}
	for _, k := range slices.Sorted(maps.Keys(cfg.Tags)) {
		s.filters = append(s.filters, types.Filter{Name: aws.String("tag:" + k), Values: []string{cfg.Tags[k]}})
	}
	s.filters = append(s.filters, types.Filter{Name: aws.String("instance-state-name"), Values: []string{"running"}})
	return s, nil
}

// Kind implements Source.
func (s *EC2) Kind() string { return "ec2" }

// Describe implements Source.
func (s *EC2) Describe() string {
	var tags []string
	for _, k := range slices.Sorted(maps.Keys(s.cfg.Tags)) {
		tags = append(tags, k+"="+s.cfg.Tags[k])
	}
	return fmt.Sprintf("ec2 running instances tagged %s, port %d", strings.Join(tags, ","), s.cfg.Port)
}

// Discover implements Source.
func (s *EC2) Discover(ctx context.Context) ([]Target, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
	defer cancel()
	p := ec2.NewDescribeInstancesPaginator(s.client, &ec2.DescribeInstancesInput{Filters: s.filters, MaxResults: aws.Int32(1000)})
	var out []Target
	seen := map[string]bool{}
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("ec2 DescribeInstances: %w", err)
		}
		for _, r := range page.Reservations {
			for _, in := range r.Instances {
				id, ip := aws.ToString(in.InstanceId), aws.ToString(in.PrivateIpAddress)
				// The filter asked for running ones; an answer that says
				// otherwise (or has no address yet) is not a target.
				if id == "" || ip == "" || seen[id] || (in.State != nil && in.State.Name != types.InstanceStateNameRunning) {
					continue
				}
				seen[id] = true
				out = append(out, Target{Name: id, Addr: net.JoinHostPort(ip, strconv.Itoa(s.cfg.Port)), Cookie: id})
			}
		}
	}
	slices.SortFunc(out, func(a, b Target) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// ErrorKind classifies a discovery error for counters: throttled, auth,
// timeout, or other.
func ErrorKind(err error) string {
	var ae smithy.APIError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrEmpty):
		return "empty"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.As(err, &ae):
		switch c := ae.ErrorCode(); {
		case c == "RequestLimitExceeded" || c == "Throttling" || c == "ThrottlingException":
			return "throttled"
		case c == "AuthFailure" || c == "UnauthorizedOperation" || strings.HasPrefix(c, "InvalidClientTokenId") || c == "SignatureDoesNotMatch":
			return "auth"
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "other"
}

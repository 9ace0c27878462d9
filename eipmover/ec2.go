package eipmover

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// EC2Config configures the EC2 mover.
type EC2Config struct {
	// Region; empty takes it from the SDK's chain (AWS_REGION, shared
	// config, then IMDS).
	Region string
	// Endpoint overrides the EC2 endpoint (the emulator); empty is AWS.
	Endpoint string
	// IMDSEndpoint overrides the instance metadata endpoint used for the
	// region; empty is the SDK's default.
	IMDSEndpoint string
	// MaxAttempts is the SDK's attempts per call (default 3): throttling
	// and 5xx are retried by the SDK first, then by the controller's
	// backoff.
	MaxAttempts int
	// MaxBackoff caps the SDK's retry delay (default 200ms): a failover
	// must not sleep the SDK's default 20 s.
	MaxBackoff time.Duration
	// CallTimeout bounds each API call, retries included (default 5s).
	CallTimeout time.Duration
	// LoadOptions are extra options for config.LoadDefaultConfig, for
	// instance static credentials.
	LoadOptions []func(*config.LoadOptions) error
	Logger      *slog.Logger
}

// EC2 moves Elastic IPs with the aws-sdk-go-v2 EC2 client:
// DescribeAddresses and AssociateAddress (AllocationId, InstanceId or
// NetworkInterfaceId, AllowReassociation). Credentials and region come
// through the SDK's normal chain.
type EC2 struct {
	client  *ec2.Client
	timeout time.Duration
	log     *slog.Logger
}

var _ Mover = (*EC2)(nil)

// NewEC2 loads the SDK configuration and returns the mover.
func NewEC2(ctx context.Context, cfg EC2Config) (*EC2, error) {
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 200 * time.Millisecond
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = cfg.MaxAttempts
				o.MaxBackoff = cfg.MaxBackoff
				// The controller backs off on its own; the SDK's retry
				// token bucket would refuse the retries a failover needs.
				o.RateLimiter = ratelimit.None
			})
		}),
	}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	} else {
		opts = append(opts, config.WithEC2IMDSRegion(func(o *config.UseEC2IMDSRegion) {
			if cfg.IMDSEndpoint != "" {
				o.Client = imds.New(imds.Options{Endpoint: cfg.IMDSEndpoint})
			}
		}))
	}
	if cfg.IMDSEndpoint != "" {
		opts = append(opts, config.WithEC2IMDSEndpoint(cfg.IMDSEndpoint))
	}
	opts = append(opts, cfg.LoadOptions...)
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("ec2 mover: load AWS config: %w", err)
	}
	if awsCfg.Region == "" {
		return nil, fmt.Errorf("ec2 mover: no region: set eip_mover.region, AWS_REGION, or run on EC2")
	}
	client := ec2.NewFromConfig(awsCfg, func(o *ec2.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	return &EC2{client: client, timeout: cfg.CallTimeout, log: cfg.Logger}, nil
}

// Describe returns the address's association (DescribeAddresses by
// allocation id).
func (m *EC2) Describe(ctx context.Context, eip EIP) (Association, error) {
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	out, err := m.client.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{AllocationIds: []string{eip.ID}})
	if err != nil {
		return Association{}, fmt.Errorf("describe %s: %w", eip.ID, err)
	}
	for _, a := range out.Addresses {
		if aws.ToString(a.AllocationId) != eip.ID {
			continue
		}
		return Association{
			AssociationID:      aws.ToString(a.AssociationId),
			InstanceID:         aws.ToString(a.InstanceId),
			NetworkInterfaceID: aws.ToString(a.NetworkInterfaceId),
			PrivateIP:          aws.ToString(a.PrivateIpAddress),
		}, nil
	}
	return Association{}, fmt.Errorf("describe %s: not in the answer", eip.ID)
}

// Assign associates the address with target, after checking that it is
// still associated as expected. Associating again with the same holder
// is a no-op, so a retry after a "maybe committed" error is safe.
func (m *EC2) Assign(ctx context.Context, eip EIP, target Target, expected Association) error {
	if target.InstanceID == "" && target.NetworkInterfaceID == "" {
		return fmt.Errorf("assign %s to %s: %w", eip.ID, target.NodeID, ErrNoTarget)
	}
	cur, err := m.Describe(ctx, eip)
	if err != nil {
		return err
	}
	if cur.Is(target) {
		return nil
	}
	if !cur.Same(expected) {
		return fmt.Errorf("assign %s: expected %s, found %s: %w", eip.ID, expected, cur, ErrUnexpectedAssociation)
	}
	in := &ec2.AssociateAddressInput{AllocationId: aws.String(eip.ID), AllowReassociation: aws.Bool(true)}
	if target.NetworkInterfaceID != "" {
		in.NetworkInterfaceId = aws.String(target.NetworkInterfaceID)
		if target.PrivateIP != "" {
			in.PrivateIpAddress = aws.String(target.PrivateIP)
		}
	} else {
		in.InstanceId = aws.String(target.InstanceID)
	}
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	if _, err := m.client.AssociateAddress(ctx, in); err != nil {
		return fmt.Errorf("associate %s with %s: %w", eip.ID, target.NodeID, err)
	}
	return nil
}

// Identity is what this node learns about itself for the EC2 mover.
type Identity struct {
	InstanceID string
	AZ         string
}

// DiscoverIdentity asks the instance metadata service (IMDSv2; endpoint
// empty for the default) for this instance's id and availability zone.
func DiscoverIdentity(ctx context.Context, endpoint string) (Identity, error) {
	client := imds.New(imds.Options{Endpoint: endpoint})
	get := func(path string) (string, error) {
		out, err := client.GetMetadata(ctx, &imds.GetMetadataInput{Path: path})
		if err != nil {
			return "", fmt.Errorf("imds %s: %w", path, err)
		}
		defer out.Content.Close()
		b, err := io.ReadAll(io.LimitReader(out.Content, 4096))
		if err != nil {
			return "", fmt.Errorf("imds %s: %w", path, err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	var id Identity
	var err error
	if id.InstanceID, err = get("instance-id"); err != nil {
		return Identity{}, err
	}
	if id.AZ, err = get("placement/availability-zone"); err != nil {
		return Identity{}, err
	}
	return id, nil
}

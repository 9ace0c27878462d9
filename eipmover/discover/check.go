package discover

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// Check is what one query of a source found, for haraftd -check.
type Check struct {
	// Targets is how many targets a poll would take now.
	Targets int
	// NotRunning counts, when Targets is 0, the instances that carry the
	// tags in another state, by state ("stopped": 2): none of them means
	// the filter matches no instance at all.
	NotRunning map[string]int
}

// Checker is a Source that -check can ask once.
type Checker interface {
	Check(ctx context.Context) (Check, error)
}

var (
	_ Checker = (*EC2)(nil)
	_ Checker = (*DNS)(nil)
)

// Check makes the query a poll makes; when it finds no running instance
// it asks once more with the tag filters alone, to tell a filter that
// matches no instance from instances that are tagged but not running.
func (s *EC2) Check(ctx context.Context) (Check, error) {
	targets, err := s.Discover(ctx)
	if err != nil {
		return Check{}, err
	}
	c := Check{Targets: len(targets)}
	if c.Targets > 0 {
		return c, nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
	defer cancel()
	tagsOnly := s.filters[:len(s.filters)-1] // the last one is the state
	out, err := s.client.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: tagsOnly, MaxResults: aws.Int32(1000)})
	if err != nil {
		return c, fmt.Errorf("ec2 DescribeInstances: %w", err)
	}
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			state := "unknown"
			if in.State != nil {
				state = string(in.State.Name)
			}
			if c.NotRunning == nil {
				c.NotRunning = map[string]int{}
			}
			c.NotRunning[state]++
		}
	}
	return c, nil
}

// Check resolves the name once, as a poll does. A name that does not
// exist or has no record of the type finds no target.
func (s *DNS) Check(ctx context.Context) (Check, error) {
	targets, err := s.Discover(ctx)
	if err != nil {
		return Check{}, err
	}
	return Check{Targets: len(targets)}, nil
}

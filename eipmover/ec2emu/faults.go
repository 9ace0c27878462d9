package ec2emu

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Faults configures injected failures. The zero value injects none.
//
// The Every fields count the calls the faults apply to since the last
// SetFaults (1-based): with ThrottleEvery 3, calls 3, 6, 9… are throttled.
// The Rate fields draw from a generator seeded by Options.Seed, so a given
// seed and call order give the same failures. Throttling is checked first,
// then server errors; a call that fails either way changes nothing.
type Faults struct {
	// Latency delays every affected call before it is handled.
	Latency time.Duration
	// ThrottleEvery makes every Nth call fail with RequestLimitExceeded
	// (HTTP 503).
	ThrottleEvery int
	// ThrottleRate makes this fraction of calls fail with
	// RequestLimitExceeded.
	ThrottleRate float64
	// ServerErrorEvery makes every Nth call fail with InternalError (500).
	ServerErrorEvery int
	// ServerErrorRate makes this fraction of calls fail with InternalError.
	ServerErrorRate float64
	// ErrorAfterCommitEvery and ErrorAfterCommitRate make a call that
	// succeeded answer InternalError anyway: the change is made but the
	// caller cannot know ("maybe committed").
	ErrorAfterCommitEvery int
	ErrorAfterCommitRate  float64
	// DescribeLag makes DescribeAddresses show the state as of now-lag
	// (eventual consistency). Addresses seeded with AddAddress or the admin
	// API count as always existing.
	DescribeLag time.Duration
	// Actions limits the faults to these actions; empty means all.
	Actions []string
}

func (f *Faults) appliesTo(action string) bool {
	return len(f.Actions) == 0 || slices.Contains(f.Actions, action)
}

// describeLag is the lag in force for an action.
func (f *Faults) describeLag(action string) time.Duration {
	if f.DescribeLag > 0 && f.appliesTo(action) {
		return f.DescribeLag
	}
	return 0
}

// faultPlan is what happens to one call.
type faultPlan struct {
	latency     time.Duration
	before      *apiError // fail before doing anything
	afterCommit bool      // do it, then answer InternalError
}

// planFaultsLocked decides the faults of one call of action.
func (e *Emulator) planFaultsLocked(action string) faultPlan {
	f := &e.faults
	if !f.appliesTo(action) {
		return faultPlan{}
	}
	e.faultCalls++
	n := e.faultCalls
	p := faultPlan{latency: f.Latency}
	switch {
	case f.ThrottleEvery > 0 && n%f.ThrottleEvery == 0:
		p.before = errThrottled()
	case f.ThrottleRate > 0 && e.faultRand.Float64() < f.ThrottleRate:
		p.before = errThrottled()
	case f.ServerErrorEvery > 0 && n%f.ServerErrorEvery == 0:
		p.before = errInternal()
	case f.ServerErrorRate > 0 && e.faultRand.Float64() < f.ServerErrorRate:
		p.before = errInternal()
	case f.ErrorAfterCommitEvery > 0 && n%f.ErrorAfterCommitEvery == 0:
		p.afterCommit = true
	case f.ErrorAfterCommitRate > 0 && e.faultRand.Float64() < f.ErrorAfterCommitRate:
		p.afterCommit = true
	}
	return p
}

// sleepCtx waits for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ec2emu: injected latency: %w", ctx.Err())
	}
}

// faultsJSON is the JSON form of Faults: durations as Go duration strings
// ("250ms").
type faultsJSON struct {
	Latency               string   `json:"latency,omitempty"`
	ThrottleEvery         int      `json:"throttle_every,omitempty"`
	ThrottleRate          float64  `json:"throttle_rate,omitempty"`
	ServerErrorEvery      int      `json:"server_error_every,omitempty"`
	ServerErrorRate       float64  `json:"server_error_rate,omitempty"`
	ErrorAfterCommitEvery int      `json:"error_after_commit_every,omitempty"`
	ErrorAfterCommitRate  float64  `json:"error_after_commit_rate,omitempty"`
	DescribeLag           string   `json:"describe_lag,omitempty"`
	Actions               []string `json:"actions,omitempty"`
}

// MarshalJSON writes durations as Go duration strings.
func (f Faults) MarshalJSON() ([]byte, error) {
	j := faultsJSON{
		ThrottleEvery:         f.ThrottleEvery,
		ThrottleRate:          f.ThrottleRate,
		ServerErrorEvery:      f.ServerErrorEvery,
		ServerErrorRate:       f.ServerErrorRate,
		ErrorAfterCommitEvery: f.ErrorAfterCommitEvery,
		ErrorAfterCommitRate:  f.ErrorAfterCommitRate,
		Actions:               f.Actions,
	}
	if f.Latency != 0 {
		j.Latency = f.Latency.String()
	}
	if f.DescribeLag != 0 {
		j.DescribeLag = f.DescribeLag.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the form MarshalJSON writes; unknown fields are an
// error so that a typo does not silently disable a fault.
func (f *Faults) UnmarshalJSON(b []byte) error {
	var j faultsJSON
	if err := decodeStrict(b, &j); err != nil {
		return fmt.Errorf("faults: %w", err)
	}
	out := Faults{
		ThrottleEvery:         j.ThrottleEvery,
		ThrottleRate:          j.ThrottleRate,
		ServerErrorEvery:      j.ServerErrorEvery,
		ServerErrorRate:       j.ServerErrorRate,
		ErrorAfterCommitEvery: j.ErrorAfterCommitEvery,
		ErrorAfterCommitRate:  j.ErrorAfterCommitRate,
		Actions:               j.Actions,
	}
	var err error
	if out.Latency, err = parseDurationField("latency", j.Latency); err != nil {
		return err
	}
	if out.DescribeLag, err = parseDurationField("describe_lag", j.DescribeLag); err != nil {
		return err
	}
	for _, r := range []float64{j.ThrottleRate, j.ServerErrorRate, j.ErrorAfterCommitRate} {
		if r < 0 || r > 1 {
			return fmt.Errorf("faults: rate %v is outside [0,1]: %w", r, ErrInvalid)
		}
	}
	if j.ThrottleEvery < 0 || j.ServerErrorEvery < 0 || j.ErrorAfterCommitEvery < 0 {
		return fmt.Errorf("faults: negative every: %w", ErrInvalid)
	}
	*f = out
	return nil
}

func parseDurationField(name, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("faults: %s: %w: %w", name, ErrInvalid, err)
	}
	if d < 0 {
		return 0, fmt.Errorf("faults: %s is negative: %w", name, ErrInvalid)
	}
	return d, nil
}

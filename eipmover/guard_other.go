//go:build !linux

package eipmover

import (
	"log/slog"
	"time"
)

// GuardConfig configures a Guard.
type GuardConfig struct {
	Interface string
	NetnsPath string
	Addresses []string
	Lease     time.Duration
	OnGap     func()
	Logger    *slog.Logger
}

// Guard is the VIP guard; it is not available on this platform.
type Guard struct{}

// StartGuard fails: VIPs need Linux.
func StartGuard(GuardConfig) (*Guard, error) { return nil, errNoVIP }

// Close does nothing.
func (*Guard) Close() {}

func runGuard(string, string, []string, time.Duration) int {
	return 1
}

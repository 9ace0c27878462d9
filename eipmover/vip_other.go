//go:build !linux

package eipmover

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// VIPConfig configures the Linux VIP mover.
type VIPConfig struct {
	Interface    string
	NetnsPath    string
	GARPCount    int
	GARPInterval time.Duration
	Logger       *slog.Logger
}

// VIP is the Linux VIP mover; it is not available on this platform.
type VIP struct{}

var errNoVIP = errors.New("vip mover: only on Linux")

// NewVIP fails: VIPs need Linux netlink.
func NewVIP(VIPConfig) (*VIP, error) { return nil, errNoVIP }

// Close does nothing.
func (*VIP) Close() {}

// Hold fails.
func (*VIP) Hold(context.Context, EIP) error { return errNoVIP }

// Release fails.
func (*VIP) Release(context.Context, EIP) error { return errNoVIP }

// Holding fails.
func (*VIP) Holding(context.Context, EIP) (bool, error) { return false, errNoVIP }

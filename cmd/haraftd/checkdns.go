package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/haraft/haraft/cmd/haraftd/config"
	"github.com/haraft/haraft/cmd/haraftd/daemon"
	"github.com/haraft/haraft/eipmover"
)

// checkRoute53 asks Route 53, for -check, whether the route53 section's
// hosted zone exists and holds the record's name. A zone Route 53 says is
// missing, or a name outside it, fails the check as file:line: field:
// reason; a zone that cannot be checked from here (no credentials, no
// network) is a warning: the node reports it in /status once it runs.
func checkRoute53(ctx context.Context, cfg *config.Config, stderr io.Writer) bool {
	if cfg.Route53 == nil {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := daemon.CheckRoute53(ctx, cfg)
	switch {
	case err == nil:
		return true
	case errors.Is(err, eipmover.ErrNoSuchZone):
		fmt.Fprintln(stderr, cfg.ErrorAt("route53.hosted_zone_id", err.Error()))
		return false
	case errors.Is(err, eipmover.ErrBadZone):
		fmt.Fprintln(stderr, cfg.ErrorAt("route53.name", err.Error()))
		return false
	}
	fmt.Fprintf(stderr, "warning: %v\n", cfg.ErrorAt("route53", "could not check the hosted zone with Route 53 (the node reports it in /status): "+err.Error()))
	return true
}

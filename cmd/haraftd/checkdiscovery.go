package main

import (
	"context"
	"fmt"
	"io"

	"github.com/haraft/haraft/cmd/haraftd/config"
	"github.com/haraft/haraft/cmd/haraftd/daemon"
)

// checkServersFrom asks, for -check, every servers_from source once
// (daemon.CheckServersFrom says what fails and what only warns) and
// prints each finding as file:line: field: reason.
func checkServersFrom(ctx context.Context, cfg *config.Config, stderr io.Writer) bool {
	ok := true
	for _, p := range daemon.CheckServersFrom(ctx, cfg) {
		if p.Warning {
			fmt.Fprintf(stderr, "warning: %v\n", cfg.ErrorAt(p.Field, p.Reason))
			continue
		}
		fmt.Fprintln(stderr, cfg.ErrorAt(p.Field, p.Reason))
		ok = false
	}
	return ok
}

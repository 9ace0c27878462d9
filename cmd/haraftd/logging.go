package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"google.golang.org/grpc/grpclog"
)

// routeLibraryLogs sends what other libraries log to the daemon's handler:
// the standard log package (slog.SetDefault) and gRPC (grpclog), so the
// process writes one stream in one format. hashicorp/raft's hclog is routed
// per node by the cluster package.
func routeLibraryLogs(log *slog.Logger) {
	slog.SetDefault(log)
	grpclog.SetLoggerV2(grpcLogger{log.With("logger", "grpc")})
}

// grpcLogger is a grpclog.LoggerV2 over slog. gRPC's INFO lines (every
// connection state change) are logged at DEBUG.
type grpcLogger struct{ log *slog.Logger }

func (g grpcLogger) out(l slog.Level, msg string) { g.log.Log(context.Background(), l, msg) }

func (g grpcLogger) Info(args ...any)               { g.out(slog.LevelDebug, fmt.Sprint(args...)) }
func (g grpcLogger) Infoln(args ...any)             { g.out(slog.LevelDebug, fmt.Sprint(args...)) }
func (g grpcLogger) Infof(f string, args ...any)    { g.out(slog.LevelDebug, fmt.Sprintf(f, args...)) }
func (g grpcLogger) Warning(args ...any)            { g.out(slog.LevelWarn, fmt.Sprint(args...)) }
func (g grpcLogger) Warningln(args ...any)          { g.out(slog.LevelWarn, fmt.Sprint(args...)) }
func (g grpcLogger) Warningf(f string, args ...any) { g.out(slog.LevelWarn, fmt.Sprintf(f, args...)) }
func (g grpcLogger) Error(args ...any)              { g.out(slog.LevelError, fmt.Sprint(args...)) }
func (g grpcLogger) Errorln(args ...any)            { g.out(slog.LevelError, fmt.Sprint(args...)) }
func (g grpcLogger) Errorf(f string, args ...any)   { g.out(slog.LevelError, fmt.Sprintf(f, args...)) }
func (g grpcLogger) Fatal(args ...any)              { g.Error(args...); os.Exit(1) }
func (g grpcLogger) Fatalln(args ...any)            { g.Error(args...); os.Exit(1) }
func (g grpcLogger) Fatalf(f string, args ...any)   { g.Errorf(f, args...); os.Exit(1) }
func (g grpcLogger) V(l int) bool                   { return g.log.Enabled(context.Background(), slog.LevelDebug) }

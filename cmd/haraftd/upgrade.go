package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/haraft/haraft/cmd/haraftd/daemon"
)

// A binary upgrade without refusing connections (README "Upgrading the
// binary without a restart"): on SIGUSR2 the running haraftd starts the
// binary now at its own path with its own arguments, passing its frontend
// listening sockets as inherited file descriptors, listed in
// HARAFT_INHERIT_FDS ("bind=fd,..."), and a pipe (HARAFT_UPGRADE_READY_FD)
// on which the new process writes one byte once it loaded its config and
// took the sockets. The old process then stops accepting, drains, keeps its
// Elastic IPs, stops Raft (releasing the data dir) and exits 0; the new one
// opens Raft as soon as it can and serves on the same sockets. Connections
// arriving meanwhile wait in the kernel's accept queue. If the new process
// does not confirm, the old one kills it and keeps serving.
const (
	envInheritFDs = "HARAFT_INHERIT_FDS"
	envReadyFD    = "HARAFT_UPGRADE_READY_FD"
	// upgradeConfirmTimeout bounds the wait for the new process's byte.
	upgradeConfirmTimeout = 30 * time.Second
	// upgradeRaftWait bounds the new process's wait for the data dir.
	upgradeRaftWait = 60 * time.Second
)

// startUpgrade starts the successor and waits for it to take the sockets.
// On error the successor is gone and d still serves.
func startUpgrade(d *daemon.Daemon, log *slog.Logger) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the binary: %w", err)
	}
	files, err := d.ListenerFiles()
	if err != nil {
		return err
	}
	defer func() {
		for _, f := range files {
			_ = f.Close()
		}
	}()
	binds := make([]string, 0, len(files))
	for b := range files {
		binds = append(binds, b)
	}
	sort.Strings(binds)
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	var list []string
	for _, b := range binds {
		list = append(list, fmt.Sprintf("%s=%d", b, 3+len(cmd.ExtraFiles)))
		cmd.ExtraFiles = append(cmd.ExtraFiles, files[b])
	}
	readyFD := 3 + len(cmd.ExtraFiles)
	cmd.ExtraFiles = append(cmd.ExtraFiles, w)
	cmd.Env = append(withoutUpgradeEnv(os.Environ()), envInheritFDs+"="+strings.Join(list, ","), envReadyFD+"="+strconv.Itoa(readyFD))
	if err := cmd.Start(); err != nil {
		_ = w.Close()
		return fmt.Errorf("starting %s: %w", exe, err)
	}
	_ = w.Close() // the child holds the write end: EOF when it exits
	log.Info("upgrade: started the new binary", "path", exe, "pid", cmd.Process.Pid, "sockets", len(binds))
	_ = r.SetReadDeadline(time.Now().Add(upgradeConfirmTimeout))
	b := make([]byte, 1)
	if _, err := r.Read(b); err != nil {
		_ = cmd.Process.Kill()
		werr := cmd.Wait()
		return fmt.Errorf("the new process (pid %d) did not take the sockets: %w (exit: %v)", cmd.Process.Pid, err, werr)
	}
	go func() { _ = cmd.Process.Release() }()
	return nil
}

func withoutUpgradeEnv(env []string) []string {
	out := env[:0:0]
	for _, e := range env {
		if !strings.HasPrefix(e, envInheritFDs+"=") && !strings.HasPrefix(e, envReadyFD+"=") {
			out = append(out, e)
		}
	}
	return out
}

// inheritedListeners takes the sockets a replaced process passed on, if
// any; confirm tells it they were taken (call it once the config loaded).
func inheritedListeners() (map[string]net.Listener, func(), error) {
	list, readyEnv := os.Getenv(envInheritFDs), os.Getenv(envReadyFD)
	_ = os.Unsetenv(envInheritFDs)
	_ = os.Unsetenv(envReadyFD)
	if list == "" && readyEnv == "" {
		return nil, func() {}, nil
	}
	out := map[string]net.Listener{}
	var errs []error
	for _, kv := range strings.Split(list, ",") {
		if kv == "" {
			continue
		}
		i := strings.LastIndexByte(kv, '=')
		fd, err := strconv.Atoi(kv[i+1:])
		if i < 0 || err != nil || fd < 3 {
			errs = append(errs, fmt.Errorf("%s: bad entry %q", envInheritFDs, kv))
			continue
		}
		f := os.NewFile(uintptr(fd), kv[:i])
		ln, err := net.FileListener(f)
		_ = f.Close() // FileListener holds its own dup
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %w", envInheritFDs, kv, err))
			continue
		}
		out[kv[:i]] = ln
	}
	confirm := func() {}
	if fd, err := strconv.Atoi(readyEnv); err == nil && fd >= 3 {
		w := os.NewFile(uintptr(fd), "upgrade-ready")
		confirm = func() {
			_, _ = w.Write([]byte{1})
			_ = w.Close()
		}
	}
	if err := errors.Join(errs...); err != nil {
		for _, ln := range out {
			_ = ln.Close()
		}
		return nil, func() {}, err
	}
	return out, confirm, nil
}

// upgradeAndExit runs an upgrade on SIGUSR2: true when the successor took
// over and this process has shut down.
func upgradeAndExit(d *daemon.Daemon, log *slog.Logger) bool {
	if err := startUpgrade(d, log); err != nil {
		log.Error("SIGUSR2: upgrade failed, this process keeps serving", "err", err)
		return false
	}
	log.Info("upgrade: the new process took the sockets; draining and handing over the data dir")
	ctx, cancel := context.WithTimeout(context.Background(), d.ShutdownGrace())
	defer cancel()
	if err := d.ShutdownForUpgrade(ctx); err != nil {
		log.Warn("upgrade: shutdown", "err", err)
	}
	log.Info("upgrade: handed over")
	return true
}

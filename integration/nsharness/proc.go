//go:build linux

package nsharness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is a process running inside a host's namespace, in a process group
// of its own (signals go to the whole group, so helpers it forks go too).
type Proc struct {
	Host    *Host
	Name    string
	LogPath string // stdout and stderr, appended across restarts

	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	err  error
}

// Start runs argv inside the host's namespace (ip netns exec, which execs:
// the process's PID is the program's own). env is added to the test
// process's environment. Output goes to Env.Dir/<host>-<name>.log.
func (h *Host) Start(name string, env []string, argv ...string) (*Proc, error) {
	logPath := filepath.Join(h.Env.Dir, h.Name+"-"+name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fmt.Fprintf(f, "=== %s start %v\n", time.Now().Format(time.RFC3339Nano), argv)
	cmd := exec.Command("ip", append([]string{"netns", "exec", h.NS}, argv...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Proc{Host: h, Name: name, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
	}()
	h.Env.mu.Lock()
	h.Env.procs = append(h.Env.procs, p)
	h.Env.mu.Unlock()
	return p, nil
}

// PID returns the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Signal sends sig to the process group.
func (p *Proc) Signal(sig syscall.Signal) error {
	if p.Exited() {
		return nil
	}
	return syscall.Kill(-p.cmd.Process.Pid, sig)
}

// Kill is kill -9 of the process group.
func (p *Proc) Kill() error { return p.Signal(syscall.SIGKILL) }

// Stop freezes the process (SIGSTOP); Cont thaws it.
func (p *Proc) Stop() error { return p.Signal(syscall.SIGSTOP) }

// Cont resumes a stopped process.
func (p *Proc) Cont() error { return p.Signal(syscall.SIGCONT) }

// Term asks the process to stop (SIGTERM) and waits up to timeout, then
// kills it.
func (p *Proc) Term(timeout time.Duration) error {
	_ = p.Signal(syscall.SIGTERM)
	if !p.waitTimeout(timeout) {
		_ = p.Kill()
		p.waitTimeout(5 * time.Second)
		return fmt.Errorf("%s/%s did not stop within %v after SIGTERM; killed", p.Host.Name, p.Name, timeout)
	}
	return nil
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err returns the exit error once the process exited.
func (p *Proc) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *Proc) waitTimeout(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// Log returns the tail (up to n bytes) of the process's log.
func (p *Proc) Log(n int) string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return ""
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// LogSize returns the current size of the process's log, an offset for
// WaitLog.
func (p *Proc) LogSize() int64 {
	fi, err := os.Stat(p.LogPath)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// FindLog returns the first line of the log after offset from that holds
// every one of substrs, or "".
func (p *Proc) FindLog(from int64, substrs ...string) string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil || int64(len(b)) < from {
		return ""
	}
	for _, line := range strings.Split(string(b[from:]), "\n") {
		all := true
		for _, s := range substrs {
			if !strings.Contains(line, s) {
				all = false
				break
			}
		}
		if all {
			return line
		}
	}
	return ""
}

// LogTime returns the time= field of a slog text line, or the zero time.
func LogTime(line string) time.Time {
	const key = "time="
	i := strings.Index(line, key)
	if i < 0 {
		return time.Time{}
	}
	f := strings.Fields(line[i+len(key):])
	if len(f) == 0 {
		return time.Time{}
	}
	t, _ := time.Parse(time.RFC3339Nano, f[0])
	return t
}

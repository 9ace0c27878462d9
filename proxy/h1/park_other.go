//go:build !linux

package h1

import "errors"

// parker is Linux only (epoll): elsewhere an idle connection keeps its
// goroutine while it waits.
type parker struct{}

func newParker() (*parker, error) { return nil, errors.New("parking needs epoll") }

func (*parker) add(*clientConn, int64) bool { return false }
func (*parker) take(*clientConn) bool       { return false }
func (*parker) parked() int                 { return 0 }
func (*parker) close()                      {}

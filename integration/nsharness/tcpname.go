//go:build linux

package nsharness

import (
	"io"
	"net"
)

// serveTCPName is a backend's mode tcp application: each connection is
// first sent the server's name and a newline, then gets back every byte it
// sends (an echo). A client thus learns which server its connection
// reached, and that bytes still pass, with no protocol on top.
func serveTCPName(name, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed
			}
			go func() {
				defer c.Close()
				if _, err := io.WriteString(c, name+"\n"); err != nil {
					return
				}
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln, nil
}

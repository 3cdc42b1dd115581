// Package freeport picks a TCP port that is free on 127.0.0.1, for the
// commands that start a real redis-server on a port of their own (the
// chaos driver's -freeport and benchreport's freeport, which the scripts
// call before starting the server).
package freeport

import "net"

// Loopback returns a port the kernel reports free on 127.0.0.1: it listens
// on port 0, reads the port the kernel chose, and closes the listener. The
// port is free when Loopback returns, not reserved: another process may
// take it before the caller binds it.
func Loopback() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		return 0, err
	}
	return port, nil
}

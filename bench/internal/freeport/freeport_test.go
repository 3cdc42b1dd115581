// Tests of the free-port helper.
package freeport

import (
	"net"
	"strconv"
	"testing"
)

// TestLoopbackBindable: the port is in range and can be listened on at once
// on 127.0.0.1 (the helper's listener is closed when it returns).
func TestLoopbackBindable(t *testing.T) {
	port, err := Loopback()
	if err != nil {
		t.Fatal(err)
	}
	if port <= 0 || port > 65535 {
		t.Fatalf("port %d out of range", port)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("port %d is not free after Loopback returned: %v", port, err)
	}
	ln.Close()
}

package shardpool

import (
	"net"
	"testing"
)

// BenchmarkBuiltInHealthCheck measures one built-in check (connCheck) of a
// healthy idle TCP connection on loopback: the price a Get pays for a
// connection idle for HealthCheckIdle or longer.
func BenchmarkBuiltInHealthCheck(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	if peer := <-accepted; peer != nil {
		defer peer.Close()
	}
	cn := NewConn(nc)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := connCheck(cn); err != nil {
			b.Fatal(err)
		}
	}
}

package shardpool_test

// The loopback server, a real TCP (or TLS) peer for the tests that need
// one, as fake_test.go's fake dialer is for the rest: the health checks in
// health_test.go and OnConnect against a hanging server in connect_test.go.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// loopback is a TCP server on 127.0.0.1 that keeps the server side of every
// connection it accepts, in order, for the test to close or write to. With
// a TLS config it serves TLS, and runs each connection's handshake.
type loopback struct {
	ln     net.Listener
	client *tls.Config // nil for plain TCP
	mu     sync.Mutex
	peers  []net.Conn
	wg     sync.WaitGroup
}

func newLoopback(t *testing.T) *loopback { return startLoopback(t, nil, nil) }

// newTLSLoopback serves TLS with a self-signed certificate for 127.0.0.1,
// made for the test, which the clients it dials trust.
func newTLSLoopback(t *testing.T) *loopback {
	server, client := selfSignedTLS(t)
	return startLoopback(t, server, client)
}

func startLoopback(t *testing.T, server, client *tls.Config) *loopback {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	l := &loopback{ln: ln, client: client}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if server != nil {
				tc := tls.Server(c, server)
				c = tc
				l.wg.Add(1)
				go func() { defer l.wg.Done(); _ = tc.Handshake() }()
			}
			l.mu.Lock()
			l.peers = append(l.peers, c)
			l.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		l.mu.Lock()
		for _, c := range l.peers {
			_ = c.Close()
		}
		l.mu.Unlock()
		l.wg.Wait()
	})
	return l
}

func (l *loopback) dial(ctx context.Context) (net.Conn, error) {
	if l.client != nil {
		d := tls.Dialer{Config: l.client}
		return d.DialContext(ctx, "tcp", l.ln.Addr().String())
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", l.ln.Addr().String())
}

// peer returns the server side of the i-th connection, once accepted.
func (l *loopback) peer(t *testing.T, i int) net.Conn {
	t.Helper()
	require.Eventually(t, func() bool { l.mu.Lock(); defer l.mu.Unlock(); return len(l.peers) > i }, 5*time.Second, time.Millisecond)
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.peers[i]
}

// reset closes the server side of the i-th connection with a RST instead
// of a FIN.
func (l *loopback) reset(t *testing.T, i int) {
	t.Helper()
	c := l.peer(t, i)
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	require.NoError(t, c.(*net.TCPConn).SetLinger(0))
	require.NoError(t, c.Close())
}

// selfSignedTLS makes a certificate for 127.0.0.1 and returns a server
// config that presents it and a client config that trusts it.
func selfSignedTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "shardpool test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS13}
	client = &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS13}
	return server, client
}

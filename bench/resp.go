package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// RESP is the Redis protocol. This file has the small client the
// end-to-end scenario runs on pooled connections (PING, SET and GET, the
// commands it needs) and a small in-process server that answers them.

// opTimeout bounds every command of the RESP client.
const opTimeout = 5 * time.Second

// CheckLoopback returns ErrNotLoopback unless addr's host is a loopback IP
// address: the benchmarks never talk to another machine.
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%w: %q", ErrNotLoopback, addr)
	}
	return nil
}

// RESPConn is a TCP connection with the buffers of the RESP client. Pools
// hold it as a net.Conn; callers type-assert it back.
type RESPConn struct {
	net.Conn
	r   *bufio.Reader
	w   *bufio.Writer
	buf []byte // scratch for numbers and replies
}

// RESPDialer returns a Dialer of RESPConns to addr, which must be a
// loopback address.
func RESPDialer(addr string) (func(context.Context) (net.Conn, error), error) {
	if err := CheckLoopback(addr); err != nil {
		return nil, err
	}
	var d net.Dialer
	return func(ctx context.Context) (net.Conn, error) {
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return &RESPConn{Conn: nc, r: bufio.NewReader(nc), w: bufio.NewWriter(nc)}, nil
	}, nil
}

// errNoSocket is SyscallConn's error for a RESPConn over a net.Conn that
// offers no socket.
var errNoSocket = errors.New("bench: the RESPConn's net.Conn offers no socket")

// SyscallConn gives the socket under c, for a pool's health check (a
// non-blocking read on an idle connection). c's read buffer is empty
// between commands, so the socket is all there is to check.
func (c *RESPConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errNoSocket
}

// ErrReply is returned for a RESP error reply or a reply of the wrong type.
var ErrReply = errors.New("bench: unexpected RESP reply")

// Ping sends PING and checks for PONG.
func (c *RESPConn) Ping() error {
	reply, err := c.do([]byte("PING"))
	if err == nil && string(reply) != "PONG" {
		err = fmt.Errorf("%w: %q to PING", ErrReply, reply)
	}
	return err
}

// Set sends SET key value and checks for OK.
func (c *RESPConn) Set(key, value []byte) error {
	reply, err := c.do([]byte("SET"), key, value)
	if err == nil && string(reply) != "OK" {
		err = fmt.Errorf("%w: %q to SET", ErrReply, reply)
	}
	return err
}

// Get sends GET key and returns the value, valid until the next command,
// or nil if the key is missing.
func (c *RESPConn) Get(key []byte) ([]byte, error) {
	return c.do([]byte("GET"), key)
}

// do sends one command and reads its reply: the text of a simple string,
// the value of a bulk string (nil for a null one).
func (c *RESPConn) do(args ...[]byte) ([]byte, error) {
	if err := c.SetDeadline(time.Now().Add(opTimeout)); err != nil {
		return nil, err
	}
	c.buf = appendCommand(c.buf[:0], args...)
	if _, err := c.w.Write(c.buf); err != nil {
		return nil, err
	}
	if err := c.w.Flush(); err != nil {
		return nil, err
	}
	line, err := readLine(c.r)
	if err != nil {
		return nil, err
	}
	switch line[0] {
	case '+':
		c.buf = append(c.buf[:0], line[1:]...)
		return c.buf, nil
	case '$':
		n, err := strconv.Atoi(string(line[1:]))
		if err != nil {
			return nil, fmt.Errorf("%w: bulk length %q", ErrReply, line)
		}
		if n < 0 {
			return nil, nil
		}
		if cap(c.buf) < n+2 {
			c.buf = make([]byte, n+2)
		}
		c.buf = c.buf[:n+2]
		if _, err := io.ReadFull(c.r, c.buf); err != nil {
			return nil, err
		}
		return c.buf[:n], nil
	default:
		return nil, fmt.Errorf("%w: %q", ErrReply, line)
	}
}

// appendCommand appends args as a RESP array of bulk strings.
func appendCommand(b []byte, args ...[]byte) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, '\r', '\n')
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	return b
}

// readLine reads a CRLF-terminated line and returns it without the CRLF,
// valid until the next read.
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("%w: line %q", ErrReply, line)
	}
	return line[:len(line)-2], nil
}

// RESPServer is an in-process server that answers PING, SET and GET over
// RESP from an in-memory map, for the end-to-end scenario's default run.
type RESPServer struct {
	ln net.Listener

	mu   sync.RWMutex
	data map[string][]byte

	connMu sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// StartRESPServer starts a server on a free port of 127.0.0.1.
func StartRESPServer() (*RESPServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &RESPServer{ln: ln, data: make(map[string][]byte), conns: make(map[net.Conn]struct{})}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr returns the address the server listens on.
func (s *RESPServer) Addr() string { return s.ln.Addr().String() }

// Close stops the server, closes its connections and waits for its
// goroutines.
func (s *RESPServer) Close() error {
	err := s.ln.Close()
	s.connMu.Lock()
	s.closed = true
	for nc := range s.conns {
		_ = nc.Close()
	}
	s.connMu.Unlock()
	s.wg.Wait()
	return err
}

func (s *RESPServer) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return // closed
		}
		s.connMu.Lock()
		if s.closed {
			s.connMu.Unlock()
			_ = nc.Close()
			return
		}
		s.conns[nc] = struct{}{}
		s.wg.Add(1)
		s.connMu.Unlock()
		go s.serve(nc)
	}
}

// serve answers the commands of one connection until it fails or closes.
func (s *RESPServer) serve(nc net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.connMu.Lock()
		delete(s.conns, nc)
		s.connMu.Unlock()
		_ = nc.Close()
	}()
	r, w := bufio.NewReader(nc), bufio.NewWriter(nc)
	var args [][]byte
	for {
		var err error
		if args, err = readCommand(r, args[:0]); err != nil {
			return
		}
		s.reply(w, args)
		if r.Buffered() == 0 {
			if w.Flush() != nil {
				return
			}
		}
	}
}

// reply writes the answer to one command.
func (s *RESPServer) reply(w *bufio.Writer, args [][]byte) {
	switch {
	case len(args) == 1 && bytes.EqualFold(args[0], []byte("PING")):
		_, _ = w.WriteString("+PONG\r\n")
	case len(args) == 3 && bytes.EqualFold(args[0], []byte("SET")):
		s.mu.Lock()
		s.data[string(args[1])] = bytes.Clone(args[2])
		s.mu.Unlock()
		_, _ = w.WriteString("+OK\r\n")
	case len(args) == 2 && bytes.EqualFold(args[0], []byte("GET")):
		s.mu.RLock()
		v, ok := s.data[string(args[1])]
		s.mu.RUnlock()
		if !ok {
			_, _ = w.WriteString("$-1\r\n")
			return
		}
		var num [20]byte
		_ = w.WriteByte('$')
		_, _ = w.Write(strconv.AppendInt(num[:0], int64(len(v)), 10))
		_, _ = w.WriteString("\r\n")
		_, _ = w.Write(v)
		_, _ = w.WriteString("\r\n")
	default:
		_, _ = w.WriteString("-ERR unknown command\r\n")
	}
}

// maxArgLen bounds the bulk strings the server accepts.
const maxArgLen = 1 << 20

// readCommand reads a RESP array of bulk strings into args. The slices are
// freshly allocated, so they stay valid.
func readCommand(r *bufio.Reader, args [][]byte) ([][]byte, error) {
	line, err := readLine(r)
	if err != nil {
		return nil, err
	}
	if line[0] != '*' {
		return nil, fmt.Errorf("%w: %q", ErrReply, line)
	}
	n, err := strconv.Atoi(string(line[1:]))
	if err != nil || n < 1 || n > 16 {
		return nil, fmt.Errorf("%w: array length %q", ErrReply, line)
	}
	for range n {
		line, err := readLine(r)
		if err != nil {
			return nil, err
		}
		if line[0] != '$' {
			return nil, fmt.Errorf("%w: %q", ErrReply, line)
		}
		size, err := strconv.Atoi(string(line[1:]))
		if err != nil || size < 0 || size > maxArgLen {
			return nil, fmt.Errorf("%w: bulk length %q", ErrReply, line)
		}
		arg := make([]byte, size+2)
		if _, err := io.ReadFull(r, arg); err != nil {
			return nil, err
		}
		args = append(args, arg[:size])
	}
	return args, nil
}

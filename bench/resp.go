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

	"github.com/shardpool/shardpool"
)

// RESP is the Redis protocol. This file has the small client the
// end-to-end scenario and the chaos driver run on pooled connections
// (PING, SET and GET, the commands they need) and a small in-process
// server that answers them.
//
// The client's per-connection state (its buffered reader and writer and a
// scratch buffer) is a RESPClient, apart from the net.Conn it talks on, so
// that it can live where the pool keeps a caller's state: a shardpool user
// dials plain TCP and keeps the RESPClient in shardpool.Conn.Value, set by
// an Options.OnConnect (RESPOnConnect, RESPHandshake), as the library's
// ExampleConnPool does. Pools that hold only a net.Conn (puddle, the
// channel pools, go-redis's) pool a RESPConn instead: the net.Conn and its
// RESPClient in one value (RESPDialer).

// opTimeout bounds every command of a RESPClient whose Timeout is 0.
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

// LoopbackDialer returns a Dialer of plain TCP connections to addr, which
// must be a loopback address: for a shardpool pool whose OnConnect keeps a
// RESPClient in Value.
func LoopbackDialer(addr string) (func(context.Context) (net.Conn, error), error) {
	if err := CheckLoopback(addr); err != nil {
		return nil, err
	}
	var d net.Dialer
	return func(ctx context.Context) (net.Conn, error) {
		return d.DialContext(ctx, "tcp", addr)
	}, nil
}

// RESPClient is the RESP client's state for one connection: its buffered
// reader and writer on the net.Conn, and a scratch buffer for commands and
// replies. It is used by one goroutine at a time: the one that holds the
// connection checked out.
type RESPClient struct {
	// Timeout bounds each command's I/O: before each command the client
	// sets the net.Conn's deadline to now + Timeout. 0 means 5 s.
	Timeout time.Duration

	nc  net.Conn
	r   *bufio.Reader
	w   *bufio.Writer
	buf []byte // scratch for commands and replies
}

// NewRESPClient returns a client that talks RESP on nc. The client sets
// nc's deadlines itself (see Timeout and PingContext); it never closes nc.
func NewRESPClient(nc net.Conn) *RESPClient {
	return &RESPClient{nc: nc, r: bufio.NewReader(nc), w: bufio.NewWriter(nc)}
}

// Buffered returns how many bytes the client has read from the connection
// and not yet consumed: 0 after every complete command. A connection with
// unread bytes must not go back to its pool (Remove it instead): the next
// caller would read a reply that is not its own, and a pool's health check
// cannot see the client's buffer.
func (c *RESPClient) Buffered() int { return c.r.Buffered() }

// ErrUnread is the reason to Remove a connection whose RESPClient still
// holds unread bytes (Buffered) after a command that succeeded.
var ErrUnread = errors.New("bench: unread bytes left in the RESP client's buffer")

// RESPConn is a net.Conn with its RESPClient, for the pools that hold only
// a net.Conn; callers type-assert it back. It shows health checks the
// socket under it: SyscallConn for go-redis v9's (which type-asserts
// syscall.Conn) and shardpool's (which takes it first), NetConn for any
// check that looks through wrappers. RESPDialer's are over TCP; over a
// net.Conn that offers no socket (a pipe, TLS) SyscallConn fails, and so
// would a health check that asks it.
type RESPConn struct {
	net.Conn
	*RESPClient
}

// NewRESPConn returns nc with a RESPClient on it.
func NewRESPConn(nc net.Conn) *RESPConn {
	return &RESPConn{Conn: nc, RESPClient: NewRESPClient(nc)}
}

// RESPDialer returns a Dialer of RESPConns to addr, which must be a
// loopback address.
func RESPDialer(addr string) (func(context.Context) (net.Conn, error), error) {
	dial, err := LoopbackDialer(addr)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) (net.Conn, error) {
		nc, err := dial(ctx)
		if err != nil {
			return nil, err
		}
		return NewRESPConn(nc), nil
	}, nil
}

// NetConn returns the connection c wraps, so that a health check that
// looks through wrappers (shardpool's) finds its socket.
func (c *RESPConn) NetConn() net.Conn { return c.Conn }

// errNoSocket is SyscallConn's error for a RESPConn over a net.Conn that
// offers no socket.
var errNoSocket = errors.New("bench: the RESPConn's net.Conn offers no socket")

// SyscallConn gives the socket under c, for a pool's health check (a
// non-blocking look at an idle connection): go-redis v9's pool
// type-asserts syscall.Conn. A check sees only the socket, not the
// client's read buffer: see Buffered.
func (c *RESPConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errNoSocket
}

// RESPOnConnect is a shardpool Options.OnConnect that keeps a RESPClient
// of each new connection in cn.Value; requests then take it with
// cn.Value.(*RESPClient). It sends nothing: see RESPHandshake for one that
// checks the server answers.
func RESPOnConnect(_ context.Context, cn *shardpool.Conn) error {
	cn.Value = NewRESPClient(cn.NetConn())
	return nil
}

// RESPHandshake is a shardpool Options.OnConnect that PINGs each new
// connection within the dial's deadline (ctx's, PingContext), as a
// driver's HELLO or AUTH does, and on PONG keeps its RESPClient in
// cn.Value and sets cn.Inited. A server, or a proxy, that accepts but
// never answers then fails the dial, which counts toward the pool's
// dial-error breaker.
func RESPHandshake(ctx context.Context, cn *shardpool.Conn) error {
	rc := NewRESPClient(cn.NetConn())
	if err := rc.PingContext(ctx); err != nil {
		return fmt.Errorf("bench: RESP handshake: %w", err)
	}
	cn.Value = rc
	cn.Inited = true
	return nil
}

// ErrReply is returned for a RESP error reply or a reply of the wrong type.
var ErrReply = errors.New("bench: unexpected RESP reply")

// longAgo is a deadline in the past: setting it ends the I/O in progress.
var longAgo = time.Unix(1, 0)

// Ping sends PING and checks for PONG.
func (c *RESPClient) Ping() error {
	reply, err := c.do([]byte("PING"))
	return checkPong(reply, err)
}

// PingContext sends PING and checks for PONG, within ctx: its I/O deadline
// is ctx's deadline if ctx has one (else now + Timeout), and ctx's end
// cuts it short. It is the handshake of an OnConnect, whose ctx carries
// the dial's deadline: the client's deadline replaces the one the pool
// set on the connection for OnConnect, so it must not be later.
func (c *RESPClient) PingContext(ctx context.Context) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(c.timeout())
	}
	// The deadline is set before ctx can cut it short: the cut, from
	// another goroutine, always comes after and wins.
	if err := c.nc.SetDeadline(deadline); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(longAgo) })
	reply, err := c.roundTrip([]byte("PING"))
	if !stop() { // ctx ended during the PING, and may have cut its deadline
		if err == nil {
			err = ctx.Err() // just as the reply came
		} else {
			err = fmt.Errorf("%w: %w", ctx.Err(), err)
		}
	}
	return checkPong(reply, err)
}

// checkPong checks a PING's reply.
func checkPong(reply []byte, err error) error {
	if err == nil && string(reply) != "PONG" {
		err = fmt.Errorf("%w: %q to PING", ErrReply, reply)
	}
	return err
}

// Set sends SET key value and checks for OK.
func (c *RESPClient) Set(key, value []byte) error {
	reply, err := c.do([]byte("SET"), key, value)
	if err == nil && string(reply) != "OK" {
		err = fmt.Errorf("%w: %q to SET", ErrReply, reply)
	}
	return err
}

// Get sends GET key and returns the value, valid until the next command,
// or nil if the key is missing.
func (c *RESPClient) Get(key []byte) ([]byte, error) {
	return c.do([]byte("GET"), key)
}

// timeout returns the bound of one command.
func (c *RESPClient) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return opTimeout
}

// do sends one command within Timeout and reads its reply (roundTrip).
func (c *RESPClient) do(args ...[]byte) ([]byte, error) {
	if err := c.nc.SetDeadline(time.Now().Add(c.timeout())); err != nil {
		return nil, err
	}
	return c.roundTrip(args...)
}

// roundTrip sends one command and reads its reply, within the deadline
// already set: the text of a simple string, the value of a bulk string
// (nil for a null one).
func (c *RESPClient) roundTrip(args ...[]byte) ([]byte, error) {
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

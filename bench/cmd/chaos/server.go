package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// server controls the redis-server process under test: the one the script
// started (pid given), then the ones this driver restarts with args.
type server struct {
	addr    string
	args    []string // command line that restarts it on the same port
	pidfile string   // where the pid of a restarted server is written

	pid     atomic.Int64
	stopped atomic.Bool // SIGSTOPped: must get a SIGCONT before we exit
	cmd     *exec.Cmd   // the restarted process; nil for the script's
}

func (s *server) signal(sig syscall.Signal) error {
	if sig == syscall.SIGSTOP {
		s.stopped.Store(true)
	}
	err := syscall.Kill(int(s.pid.Load()), sig)
	if sig == syscall.SIGCONT || sig == syscall.SIGKILL {
		s.stopped.Store(false)
	}
	return err
}

// release sends SIGCONT if the server is stopped, so that nothing is left
// frozen whatever way the driver exits.
func (s *server) release() {
	if s.stopped.Load() {
		_ = s.signal(syscall.SIGCONT)
	}
}

// kill sends SIGKILL and waits, up to bound, until the port refuses
// connections.
func (s *server) kill(bound time.Duration) error {
	if err := s.signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("SIGKILL pid %d: %w", s.pid.Load(), err)
	}
	if s.cmd != nil {
		_ = s.cmd.Wait() // reap our child; SIGKILL cannot be ignored
		s.cmd = nil
	}
	deadline := time.Now().Add(bound)
	for i := 0; time.Now().Before(deadline) && i < 10_000; i++ {
		nc, err := net.DialTimeout("tcp", s.addr, 50*time.Millisecond)
		if err != nil {
			if errors.Is(err, syscall.ECONNREFUSED) {
				return nil
			}
		} else {
			_ = nc.Close()
		}
		time.Sleep(2 * time.Millisecond)
	}
	return fmt.Errorf("%s still accepts connections %v after SIGKILL", s.addr, bound)
}

// restart starts the server again with its command line and records its
// pid in the pidfile, for the script to stop it.
func (s *server) restart() error {
	cmd := exec.Command(s.args[0], s.args[1:]...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("restart %q: %w", s.args, err)
	}
	s.cmd = cmd
	s.pid.Store(int64(cmd.Process.Pid))
	if s.pidfile != "" {
		if err := os.WriteFile(s.pidfile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// waitUp dials the port every 2 ms, up to bound, and returns once a dial
// succeeds: the server accepts connections again.
func (s *server) waitUp(bound time.Duration) error {
	deadline := time.Now().Add(bound)
	for i := 0; time.Now().Before(deadline) && i < 10_000; i++ {
		if nc, err := net.DialTimeout("tcp", s.addr, 50*time.Millisecond); err == nil {
			_ = nc.Close()
			return nil
		}
		time.Sleep(2 * time.Millisecond)
	}
	return fmt.Errorf("%s does not accept connections %v after the restart", s.addr, bound)
}

// clientKill closes, on the server's side, every normal client connection
// but the one it sends the command on, and returns how many it closed.
func (s *server) clientKill() (int, error) {
	nc, err := net.DialTimeout("tcp", s.addr, time.Second)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	if err := nc.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return 0, err
	}
	if _, err := nc.Write(respCommand("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")); err != nil {
		return 0, err
	}
	line, err := bufio.NewReader(nc).ReadString('\n')
	if err != nil {
		return 0, err
	}
	return parseInteger(line)
}

// respCommand encodes args as a RESP array of bulk strings.
func respCommand(args ...string) []byte {
	b := fmt.Appendf(nil, "*%d\r\n", len(args))
	for _, a := range args {
		b = fmt.Appendf(b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b
}

// parseInteger parses a RESP integer reply line such as ":3\r\n".
func parseInteger(line string) (int, error) {
	if len(line) < 4 || line[0] != ':' || line[len(line)-2:] != "\r\n" {
		return 0, fmt.Errorf("not a RESP integer reply: %q", line)
	}
	return strconv.Atoi(line[1 : len(line)-2])
}

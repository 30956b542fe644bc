// client.go: requests over the agent's Unix socket on kept-alive connections, with the server's uid checked.

package wxshm

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

const (
	replyMax       = 16 << 10 // a refresh or get reply line with a 2048-byte token fits with room
	idleConnsMax   = 4        // kept-alive connections per socket path
	connectRetry   = 10 * time.Millisecond
	replySlack     = time.Second // waited past timeout_ms: the agent's own "timeout" answer must arrive
	timeoutDefault = 5000        // ms, for timeout_ms <= 0
	timeoutMax     = 60000       // ms
)

// agentConn is one connection to the agent. It carries one request at a time; requests on
// it are answered in order.
type agentConn struct {
	c       *net.UnixConn
	r       *bufio.Reader
	peerUID uint32
}

var pool = struct {
	sync.Mutex
	idle map[string][]*agentConn
}{idle: map[string][]*agentConn{}}

func takeIdle(path string) *agentConn {
	pool.Lock()
	defer pool.Unlock()
	l := pool.idle[path]
	if len(l) == 0 {
		return nil
	}
	c := l[len(l)-1]
	pool.idle[path] = l[:len(l)-1]
	return c
}

func putIdle(path string, c *agentConn) {
	pool.Lock()
	if len(pool.idle[path]) < idleConnsMax {
		pool.idle[path] = append(pool.idle[path], c)
		c = nil
	}
	pool.Unlock()
	if c != nil {
		c.c.Close()
	}
}

// netErrno finds the errno under a net error, ETIMEDOUT for a deadline.
func netErrno(err error) syscall.Errno {
	var errno syscall.Errno
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return syscall.ETIMEDOUT
	}
	if errors.As(err, &errno) {
		return errno
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return syscall.EPROTO
	}
	return syscall.EIO
}

func dial(path string, deadline time.Time) (*agentConn, syscall.Errno) {
	if len(path) >= len(syscall.RawSockaddrUnix{}.Path) {
		return nil, syscall.ENAMETOOLONG
	}
	for {
		c, err := net.DialTimeout("unix", path, time.Until(deadline))
		if err == nil {
			uc := c.(*net.UnixConn)
			uid, errno := peerUID(uc)
			if errno != 0 {
				uc.Close()
				return nil, errno
			}
			return &agentConn{c: uc, r: bufio.NewReaderSize(uc, replyMax), peerUID: uid}, 0
		}
		errno := netErrno(err)
		// A full listen backlog answers EAGAIN, and nothing says when there is room: nap, retry.
		if errno != syscall.EAGAIN {
			return nil, errno
		}
		if time.Until(deadline) <= connectRetry {
			return nil, syscall.ETIMEDOUT
		}
		time.Sleep(connectRetry)
	}
}

func peerUID(c *net.UnixConn) (uint32, syscall.Errno) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, netErrno(err)
	}
	var cred *syscall.Ucred
	var credErr error
	if err = raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return 0, netErrno(err)
	}
	if credErr != nil {
		return 0, netErrno(credErr)
	}
	return cred.Uid, 0
}

// peerAllowed: a token request goes only to the segment's owner or root.
func peerAllowed(peer, owner uint32) bool { return peer == 0 || peer == owner }

// exchange sends line on c and reads one reply line. gotByte says whether any byte of a
// reply arrived (a reused connection the agent closed before answering may be retried).
func (c *agentConn) exchange(line []byte, deadline time.Time) (reply []byte, gotByte bool, errno syscall.Errno) {
	if err := c.c.SetDeadline(deadline); err != nil {
		return nil, false, netErrno(err)
	}
	if _, err := c.c.Write(line); err != nil {
		return nil, false, netErrno(err)
	}
	reply, err := c.r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, true, syscall.EPROTO
		}
		if len(reply) == 0 && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
			return nil, false, syscall.EPIPE // closed before answering
		}
		return nil, len(reply) > 0, netErrno(err)
	}
	return append([]byte(nil), reply[:len(reply)-1]...), true, 0
}

// request sends one line (with its newline) to the agent at path, which must run as owner
// or root, and returns its reply line. A kept-alive connection the agent has closed (idle,
// evicted) is replaced once, before any byte of the reply: every request is idempotent.
func request(path string, owner uint32, line []byte, deadline time.Time) ([]byte, syscall.Errno) {
	for attempt := 0; ; attempt++ {
		var c *agentConn
		if attempt == 0 {
			c = takeIdle(path) // on the retry, a new connection: the other idle ones are likely closed too
		}
		reused := c != nil
		if !reused {
			var errno syscall.Errno
			if c, errno = dial(path, deadline); errno != 0 {
				return nil, errno
			}
		}
		if !peerAllowed(c.peerUID, owner) {
			c.c.Close()
			return nil, syscall.EPERM
		}
		reply, gotByte, errno := c.exchange(line, deadline)
		if errno == 0 && c.r.Buffered() == 0 {
			putIdle(path, c)
			return reply, 0
		}
		c.c.Close()
		if errno == 0 {
			return reply, 0 // bytes after the reply: this connection is out of step, drop it
		}
		broken := errno == syscall.EPIPE || errno == syscall.ECONNRESET
		if broken && reused && !gotByte && attempt == 0 {
			continue
		}
		if broken {
			return nil, syscall.EPROTO
		}
		return nil, errno
	}
}

// closeIdle closes every kept-alive connection (for the tests).
func closeIdle() {
	pool.Lock()
	defer pool.Unlock()
	for path, l := range pool.idle {
		for _, c := range l {
			c.c.Close()
		}
		delete(pool.idle, path)
	}
}

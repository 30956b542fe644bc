// refresh_test.go: Refresh against a fake agent on a Unix socket: the request, replies, errors, keep-alive, coalescing.

package wxshm

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// fakeAgent answers each request line with what answer returns; "" closes the connection
// without a reply, "HANG" never answers.
type fakeAgent struct {
	path     string
	ln       *net.UnixListener
	conns    atomic.Int64
	requests atomic.Int64
	mu       sync.Mutex
	lines    []map[string]any
	open     []net.Conn
	answer   func(n int64, req map[string]any) string
}

func newFakeAgent(t *testing.T, answer func(n int64, req map[string]any) string) *fakeAgent {
	a := &fakeAgent{path: filepath.Join(t.TempDir(), "agent.sock"), answer: answer}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: a.path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	a.ln = ln
	t.Cleanup(func() { ln.Close(); closeIdle() })
	go a.serve()
	return a
}

func (a *fakeAgent) serve() {
	for {
		c, err := a.ln.Accept()
		if err != nil {
			return
		}
		a.conns.Add(1)
		a.mu.Lock()
		a.open = append(a.open, c)
		a.mu.Unlock()
		go func() {
			defer c.Close()
			r := bufio.NewReader(c)
			for {
				line, err := r.ReadBytes('\n')
				if err != nil {
					return
				}
				var req map[string]any
				json.Unmarshal(line, &req)
				n := a.requests.Add(1)
				a.mu.Lock()
				a.lines = append(a.lines, req)
				a.mu.Unlock()
				reply := a.answer(n, req)
				if reply == "HANG" {
					select {}
				}
				if reply == "" {
					return
				}
				if _, err = c.Write([]byte(reply)); err != nil || reply[len(reply)-1] != '\n' {
					return // a reply without its newline: half a reply, then the close
				}
			}
		}()
	}
}

// dropAll closes every connection from the agent's side, as its idle_timeout did.
func (a *fakeAgent) dropAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range a.open {
		c.Close()
	}
	a.open = nil
}

// refreshHandle opens a segment of the caller's own (so the fake agent, the caller too, may answer).
func refreshHandle(t *testing.T, socket string) (*Handle, *testSeg) {
	dir := testDir(t)
	s := newTestSeg(t, dir, "shop")
	s.publish([]byte("OLD"), 5, time.Now().UnixMilli()+1000000, 0)
	h, err := Open("shop", WithDir(dir), WithSocket(socket))
	if err != nil {
		t.Fatal(err)
	}
	return h, s
}

func okReply(g uint64) string {
	return fmt.Sprintf(`{"ok":true,"generation":%d,"expires_at":4102444800000,"upstream_call":true,"token":"NEW%d"}`+"\n", g, g)
}

func TestRefreshRequestAndToken(t *testing.T) {
	a := newFakeAgent(t, func(n int64, req map[string]any) string { return okReply(6) })
	h, s := refreshHandle(t, a.path)
	g, err := h.Refresh(5, 2500*time.Millisecond)
	if err != nil || g != 6 {
		t.Fatalf("refresh: %d %v", g, err)
	}
	a.mu.Lock()
	req := a.lines[0]
	a.mu.Unlock()
	want := map[string]any{"op": "refresh", "app": "shop", "generation": 5.0, "timeout_ms": 2500.0, "token": true}
	if fmt.Sprint(req) != fmt.Sprint(want) {
		t.Fatalf("request %v, want %v", req, want)
	}
	// Timeouts: <= 0 is 5 s, more than 60 s is 60 s.
	h.Refresh(5, 0)
	h.Refresh(5, time.Hour)
	a.mu.Lock()
	if a.lines[1]["timeout_ms"] != 5000.0 || a.lines[2]["timeout_ms"] != 60000.0 {
		t.Fatalf("timeouts sent: %v %v", a.lines[1], a.lines[2])
	}
	a.mu.Unlock()

	// The segment does not show generation 6 yet: the reply's token.
	tok, err := h.RefreshToken(context.Background(), 5)
	if err != nil || tok.Token != "NEW6" || tok.Generation != 6 || tok.ExpiresAtMs != 4102444800000 {
		t.Fatalf("refresh token: %+v %v", tok, err)
	}
	// It does: the segment's.
	s.publish([]byte("SEG6"), 6, time.Now().UnixMilli()+1000000, 0)
	if tok, err = h.RefreshToken(context.Background(), 5); err != nil || tok.Token != "SEG6" {
		t.Fatalf("refresh token: %+v %v", tok, err)
	}
	if a.conns.Load() != 1 {
		t.Fatalf("%d connections for sequential requests, want 1 kept alive", a.conns.Load())
	}
}

func TestRefreshErrors(t *testing.T) {
	for _, c := range []struct {
		reply    string
		sentinel error
		errno    syscall.Errno
	}{
		{`{"ok":false,"error":"rate_limited","message":"spaced","retry_after_ms":1500}`, ErrRateLimited, syscall.EAGAIN},
		{`{"ok":false,"error":"timeout","message":"m"}`, ErrTimeout, syscall.ETIMEDOUT},
		{`{"ok":false,"error":"upstream_failed","message":"m"}`, ErrUpstream, syscall.EIO},
		{`{"ok":false,"error":"too_many_waiters","message":"m"}`, ErrTooManyWaiters, syscall.EBUSY},
		{`{"ok":false,"error":"permission_denied","message":"m"}`, ErrAccess, syscall.EACCES},
		{`{"ok":false,"error":"unknown_app","message":"m"}`, ErrNotFound, syscall.ENOENT},
		{`{"ok":false,"error":"shutting_down","message":"m"}`, ErrAgentStopping, syscall.ECONNREFUSED},
		{`{"ok":false,"error":"bad_request","message":"m"}`, ErrProtocol, syscall.EPROTO},
		{`{"ok":false}`, ErrProtocol, syscall.EPROTO},
		{`{"ok":true}`, ErrProtocol, syscall.EPROTO},
		{`{"ok":true,"generation":9007199254740992}`, ErrProtocol, syscall.EPROTO},
		{`{"ok":true,"generation":-1}`, ErrProtocol, syscall.EPROTO},
		{`{"ok":true,"generation":1.5}`, ErrProtocol, syscall.EPROTO},
		{`{"generation":7}`, ErrProtocol, syscall.EPROTO},
		{`not json`, ErrProtocol, syscall.EPROTO},
		{`{"ok":tr`, ErrProtocol, syscall.EPROTO}, // then the connection closes: half a reply
	} {
		t.Run(c.reply, func(t *testing.T) {
			reply := c.reply + "\n"
			if c.reply == `{"ok":tr` {
				reply = c.reply
			}
			a := newFakeAgent(t, func(n int64, req map[string]any) string { return reply })
			h, _ := refreshHandle(t, a.path)
			_, err := h.Refresh(5, time.Second)
			wantErr(t, err, c.sentinel, c.errno)
			var e *Error
			errors.As(err, &e)
			if e.Op != "refresh" || e.Item != "shop" {
				t.Fatalf("op %q item %q", e.Op, e.Item)
			}
			if c.errno == syscall.EAGAIN && e.RetryAfter != 1500*time.Millisecond {
				t.Fatalf("retry after %v", e.RetryAfter)
			}
		})
	}
}

// The agent closes a kept-alive connection (idle, evicted): the next request goes on a new
// one, once; a connection that breaks after part of a reply is not retried.
func TestRefreshReconnect(t *testing.T) {
	a := newFakeAgent(t, func(n int64, req map[string]any) string {
		if n == 2 {
			return "" // read the request, close before answering
		}
		return okReply(uint64(n))
	})
	h, _ := refreshHandle(t, a.path)
	if g, err := h.Refresh(5, time.Second); err != nil || g != 1 {
		t.Fatalf("first: %d %v", g, err)
	}
	if g, err := h.Refresh(5, time.Second); err != nil || g != 3 {
		t.Fatalf("after the close: %d %v", g, err)
	}
	if a.conns.Load() != 2 || a.requests.Load() != 3 {
		t.Fatalf("%d connections, %d requests; want 2, 3", a.conns.Load(), a.requests.Load())
	}

	// Closed while idle (as the agent's idle_timeout did): the write or the read fails, then a new one.
	b := newFakeAgent(t, func(n int64, req map[string]any) string { return okReply(uint64(n)) })
	h2, _ := refreshHandle(t, b.path)
	h2.Refresh(5, time.Second)
	b.dropAll()
	if g, err := h2.Refresh(5, time.Second); err != nil || g != 2 || b.conns.Load() != 2 {
		t.Fatalf("after an idle close: %d %v, %d connections", g, err, b.conns.Load())
	}

	// A fresh connection closed before any reply: not retried.
	c := newFakeAgent(t, func(n int64, req map[string]any) string { return "" })
	h3, _ := refreshHandle(t, c.path)
	_, err := h3.Refresh(5, time.Second)
	wantErr(t, err, ErrProtocol, syscall.EPROTO)
	if c.requests.Load() != 1 {
		t.Fatalf("%d requests on a fresh connection closed at once", c.requests.Load())
	}
}

func TestRefreshTimeoutAndNoAgent(t *testing.T) {
	a := newFakeAgent(t, func(n int64, req map[string]any) string { return "HANG" })
	h, _ := refreshHandle(t, a.path)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := h.RefreshContext(ctx, 5)
	wantErr(t, err, ErrTimeout, syscall.ETIMEDOUT)
	a.mu.Lock()
	if ms := a.lines[0]["timeout_ms"].(float64); ms < 1 || ms > 100 {
		t.Fatalf("timeout_ms %v from a 100 ms context", ms)
	}
	a.mu.Unlock()
	_, err = h.Refresh(6, 10*time.Millisecond) // the agent says nothing: the client's own deadline, timeout + 1 s
	wantErr(t, err, ErrTimeout, syscall.ETIMEDOUT)
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	_, err = h.RefreshContext(ctx2, 7)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, syscall.ECANCELED) {
		t.Fatalf("cancelled: %v", err)
	}
	_, err = h.Refresh(1<<53, time.Second)
	wantErr(t, err, ErrInvalid, syscall.EINVAL)

	// No socket: ENOENT; a socket nobody listens on: ECONNREFUSED.
	h2, _ := refreshHandle(t, filepath.Join(t.TempDir(), "none.sock"))
	_, err = h2.Refresh(5, time.Second)
	wantErr(t, err, ErrNotFound, syscall.ENOENT)
	dead := filepath.Join(t.TempDir(), "dead.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: dead, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	h3, _ := refreshHandle(t, dead)
	_, err = h3.Refresh(5, time.Second)
	wantErr(t, err, ErrAgentStopping, syscall.ECONNREFUSED)
}

// Concurrent refreshes of one generation share one request; another generation has its own.
func TestRefreshCoalesced(t *testing.T) {
	release := make(chan struct{})
	a := newFakeAgent(t, func(n int64, req map[string]any) string {
		<-release
		return okReply(uint64(req["generation"].(float64)) + 1)
	})
	h, _ := refreshHandle(t, a.path)
	const n = 8
	var wg sync.WaitGroup
	gens := make([]uint64, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			gens[i], errs[i] = h.Refresh(5, 5*time.Second)
		}(i)
	}
	key := flightKey{h.socket, h.dir, h.item, 5}
	for waited := 0; ; waited++ {
		flights.Lock()
		f := flights.m[key]
		joined := f != nil && f.waiters == n
		flights.Unlock()
		if joined {
			break
		}
		if waited > 5000 {
			t.Fatal("the callers never all joined")
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	for i := 0; i < n; i++ {
		if errs[i] != nil || gens[i] != 6 {
			t.Fatalf("caller %d: %d %v", i, gens[i], errs[i])
		}
	}
	if a.requests.Load() != 1 {
		t.Fatalf("%d requests for %d concurrent refreshes of one generation", a.requests.Load(), n)
	}
	if g, err := h.Refresh(6, time.Second); err != nil || g != 7 || a.requests.Load() != 2 {
		t.Fatalf("another generation: %d %v, %d requests", g, err, a.requests.Load())
	}
}

// The server must be the segment's owner or root (needs root, to be other users).
func TestRefreshPeerCheck(t *testing.T) {
	if os.Getenv("WXSHM_TEST_SERVE") != "" {
		t.Skip("helper")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a server as another user")
	}
	dir := testDir(t)
	newTestSeg(t, dir, "shop").publish([]byte("T"), 5, time.Now().UnixMilli()+1000000, 0)
	// The segment is a system user's (uid 2); the server runs as uid 3.
	for _, n := range []string{"", "shop"} {
		os.Chown(filepath.Join(dir, n), 2, 2)
	}
	// The other user must reach this binary and the socket's directory.
	shared, err := os.MkdirTemp("", "wxshm-peer")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(shared)
	os.Chmod(shared, 0o755)
	self, _ := os.Executable()
	bin := filepath.Join(shared, "helper.test")
	if b, err := os.ReadFile(self); err != nil || os.WriteFile(bin, b, 0o755) != nil {
		t.Fatal("copying the test binary", err)
	}
	sockDir := filepath.Join(shared, "run")
	os.Mkdir(sockDir, 0o755)
	os.Chown(sockDir, 3, 3)
	sock := filepath.Join(sockDir, "s.sock")
	cmd := exec.Command(bin, "-test.run=^TestServeHelper$")
	cmd.Env = append(os.Environ(), "WXSHM_TEST_SERVE="+sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 3, Gid: 3}}
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "listening\n" {
		t.Fatalf("helper: %q %v", line, err)
	}
	h, err := Open("shop", WithDir(dir), WithSocket(sock))
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.Refresh(5, time.Second)
	wantErr(t, err, ErrNotTrusted, syscall.EPERM)
	// The same server for a segment of its own user: answered.
	for _, n := range []string{"", "shop"} {
		os.Chown(filepath.Join(dir, n), 3, 3)
	}
	if h, err = Open("shop", WithDir(dir), WithSocket(sock)); err != nil {
		t.Fatal(err)
	}
	if g, err := h.Refresh(5, time.Second); err != nil || g != 6 {
		t.Fatalf("own server: %d %v", g, err)
	}
}

// TestServeHelper is the other user's server of TestRefreshPeerCheck, in a child process.
func TestServeHelper(t *testing.T) {
	sock := os.Getenv("WXSHM_TEST_SERVE")
	if sock == "" {
		t.Skip("helper of TestRefreshPeerCheck")
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(sock, 0o777)
	fmt.Println("listening")
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			r := bufio.NewReader(c)
			for {
				line, err := r.ReadBytes('\n')
				if err != nil {
					return
				}
				var req map[string]any
				json.Unmarshal(line, &req)
				c.Write([]byte(okReply(uint64(req["generation"].(float64)) + 1)))
			}
		}()
	}
}

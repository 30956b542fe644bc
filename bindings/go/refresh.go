// refresh.go: Refresh, compare-and-refresh over the agent's socket, one request per item and generation in the process.

package wxshm

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// generationLimit: generations travel as JSON numbers, exact as doubles only below 2^53.
const generationLimit = uint64(1) << 53

// The agent's error codes, and the errno libwxshm gives each.
var replyCodes = map[string]syscall.Errno{
	"rate_limited":      syscall.EAGAIN,
	"timeout":           syscall.ETIMEDOUT,
	"upstream_failed":   syscall.EIO,
	"too_many_waiters":  syscall.EBUSY,
	"permission_denied": syscall.EACCES,
	"unknown_app":       syscall.ENOENT,
	"shutting_down":     syscall.ECONNREFUSED,
}

// replySentinel is the meaning of an error code the agent answered: EAGAIN is the agent
// spacing forced refreshes (not a busy segment), EIO its upstream call failing.
func replySentinel(errno syscall.Errno) error {
	switch errno {
	case syscall.EAGAIN:
		return ErrRateLimited
	case syscall.EIO:
		return ErrUpstream
	}
	return sentinel(errno)
}

type refreshRequest struct {
	Op         string `json:"op"`
	App        string `json:"app"`
	Generation uint64 `json:"generation"`
	TimeoutMs  int64  `json:"timeout_ms"`
	Token      bool   `json:"token"`
}

type refreshReply struct {
	OK           *bool       `json:"ok"`
	Generation   json.Number `json:"generation"`
	ExpiresAt    int64       `json:"expires_at"`
	Token        *string     `json:"token"`
	Error        string      `json:"error"`
	Message      string      `json:"message"`
	RetryAfterMs *int64      `json:"retry_after_ms"`
}

// refreshResult is what all the callers sharing one request get.
type refreshResult struct {
	generation uint64
	expiresAt  int64
	token      *string // only from an agent that knows "token":true
	err        *Error
}

type flightKey struct {
	socket, dir, item string
	generation        uint64
}

type flight struct {
	done    chan struct{}
	res     refreshResult
	waiters int // callers sharing it (under flights' lock; the tests look)
}

// flights coalesces: concurrent refreshes of one item naming the same generation share one request.
var flights = struct {
	sync.Mutex
	m map[flightKey]*flight
}{m: map[flightKey]*flight{}}

// parseRefreshReply maps one reply line as libwxshm does: anything not understood is EPROTO.
func parseRefreshReply(line []byte) (refreshResult, *Error) {
	var rep refreshReply
	var res refreshResult

	if err := json.Unmarshal(line, &rep); err != nil || rep.OK == nil {
		return res, &Error{Errno: syscall.EPROTO, Err: ErrProtocol}
	}
	if *rep.OK {
		g, err := strconv.ParseUint(string(rep.Generation), 10, 64)
		if err != nil || g >= generationLimit {
			return res, &Error{Errno: syscall.EPROTO, Err: ErrProtocol}
		}
		res.generation, res.expiresAt, res.token = g, rep.ExpiresAt, rep.Token
		return res, nil
	}
	errno, ok := replyCodes[rep.Error]
	if !ok {
		// bad_request and the like: this package and the agent disagree about the protocol.
		return res, &Error{Errno: syscall.EPROTO, Err: ErrProtocol, Detail: rep.Error + ": " + rep.Message}
	}
	e := &Error{Errno: errno, Err: replySentinel(errno), Detail: rep.Message}
	if errno == syscall.EAGAIN && rep.RetryAfterMs != nil && *rep.RetryAfterMs > 0 {
		e.RetryAfter = time.Duration(*rep.RetryAfterMs) * time.Millisecond
	}
	return res, e
}

// ask makes the one request of a flight, bounded by its own deadline (not any caller's context).
func (h *Handle) ask(owner uint32, generation uint64, timeoutMs int64) refreshResult {
	line, err := json.Marshal(refreshRequest{Op: "refresh", App: h.item, Generation: generation, TimeoutMs: timeoutMs, Token: true})
	if err != nil {
		return refreshResult{err: &Error{Errno: syscall.EINVAL, Err: ErrInvalid}}
	}
	deadline := time.Now().Add(time.Duration(timeoutMs)*time.Millisecond + replySlack)
	reply, errno := request(h.socket, owner, append(line, '\n'), deadline)
	if errno != 0 {
		return refreshResult{err: &Error{Errno: errno, Err: sentinel(errno)}}
	}
	res, e := parseRefreshReply(reply)
	res.err = e
	return res
}

func clampTimeout(ms int64) int64 {
	if ms <= 0 {
		return timeoutDefault
	}
	if ms > timeoutMax {
		return timeoutMax
	}
	return ms
}

// refresh is RefreshContext with the timeout_ms to send.
func (h *Handle) refresh(ctx context.Context, generation uint64, timeoutMs int64) (refreshResult, error) {
	fail := func(errno syscall.Errno, sentinel error) (refreshResult, error) {
		return refreshResult{}, &Error{Op: "refresh", Item: h.item, Errno: errno, Err: sentinel}
	}
	if generation >= generationLimit {
		return fail(syscall.EINVAL, ErrInvalid)
	}
	m := h.m.Load()
	if m == nil {
		return fail(syscall.EBADF, ErrClosed)
	}
	key := flightKey{h.socket, h.dir, h.item, generation}
	flights.Lock()
	f := flights.m[key]
	if f == nil {
		f = &flight{done: make(chan struct{})}
		flights.m[key] = f
		go func() {
			f.res = h.ask(m.owner, generation, timeoutMs)
			flights.Lock()
			delete(flights.m, key)
			flights.Unlock()
			close(f.done)
		}()
	}
	f.waiters++
	flights.Unlock()

	select {
	case <-f.done:
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fail(syscall.ETIMEDOUT, ErrTimeout)
		}
		return fail(syscall.ECANCELED, ctx.Err())
	}
	if f.res.err != nil {
		e := *f.res.err // each caller its own copy
		e.Op, e.Item = "refresh", h.item
		return f.res, &e
	}
	return f.res, nil
}

// Refresh tells the agent that WeChat refused the token of generation (the one this
// request used: Token.Generation of its Read) and waits until a newer one is published,
// at most timeout (<= 0: 5 s; cut to 60 s). It returns the generation now published:
// greater, or equal when the agent checked that the token still works. Read again, then
// retry the call once. Concurrent calls for the same generation share one request.
// Errors: ErrRateLimited (with RetryAfter), ErrTimeout, ErrUpstream, ErrTooManyWaiters,
// ErrAccess, ErrNotFound (no agent, or it does not know the item), ErrAgentStopping,
// ErrNotTrusted (the socket's server is neither the segment's owner nor root),
// ErrProtocol, ErrInvalid (generation >= 2^53), ErrClosed.
func (h *Handle) Refresh(generation uint64, timeout time.Duration) (uint64, error) {
	ms := clampTimeout(timeout.Milliseconds())
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(ms)*time.Millisecond+replySlack)
	defer cancel()
	res, err := h.refresh(ctx, generation, ms)
	return res.generation, err
}

// contextTimeout is the timeout_ms a ctx gives the agent: its deadline, else 5 s; 60 s at most.
func (h *Handle) contextTimeout(ctx context.Context) (int64, error) {
	d, ok := ctx.Deadline()
	if !ok {
		return timeoutDefault, nil
	}
	left := time.Until(d)
	if left <= 0 {
		return 0, &Error{Op: "refresh", Item: h.item, Errno: syscall.ETIMEDOUT, Err: ErrTimeout}
	}
	return clampTimeout(int64(math.Ceil(float64(left) / float64(time.Millisecond)))), nil
}

// RefreshContext is Refresh bounded by ctx: the agent is given ctx's deadline (5 s if it has
// none, 60 s at most). A cancelled ctx stops this caller's wait, not the request that other
// callers share; callers joining a request in flight share the timeout its first caller gave.
func (h *Handle) RefreshContext(ctx context.Context, generation uint64) (uint64, error) {
	ms, err := h.contextTimeout(ctx)
	if err != nil {
		return 0, err
	}
	res, err := h.refresh(ctx, generation, ms)
	return res.generation, err
}

// RefreshToken is RefreshContext, then the newer token: read from the segment, or, if the
// segment does not show it yet, as the agent's reply carried it (the status words then zero).
func (h *Handle) RefreshToken(ctx context.Context, generation uint64) (Token, error) {
	ms, err := h.contextTimeout(ctx)
	if err != nil {
		return Token{}, err
	}
	res, err := h.refresh(ctx, generation, ms)
	if err != nil {
		return Token{}, err
	}
	t, rerr := h.Read()
	if rerr == nil && t.Generation >= res.generation {
		return t, nil
	}
	if res.token != nil {
		return Token{Token: *res.token, Generation: res.generation, ExpiresAtMs: res.expiresAt,
			Stale: time.Now().UnixMilli() >= res.expiresAt}, nil
	}
	return t, rerr
}

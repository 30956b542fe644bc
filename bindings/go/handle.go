// handle.go: the Handle of one item (Open, Close) and the Token a Read returns.

package wxshm

import (
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// State is what the agent is doing for the item; the token stays readable in every state.
type State int32

const (
	StateStarting    State = 0 // no upstream answer yet
	StateFresh       State = 1 // token published, next refresh scheduled
	StateRefreshing  State = 2 // an upstream call is in flight
	StateRetrying    State = 3 // transient upstream failure, backing off
	StateConfigError State = 4 // bad secret, IP not whitelisted, ...: the operator must act
	StateQuota       State = 5 // daily quota exhausted (45009)
	StateStopped     State = 6 // the agent stopped; the token is served until it expires
)

var stateNames = [...]string{"starting", "fresh", "refreshing", "retrying", "config_error", "quota", "stopped"}

// String is the state's name as libwxshm's wxshm_state_name gives it ("unknown" for others).
func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// Token is one consistent copy of the published token, with the agent's status words.
type Token struct {
	Token       string // the access token (or ticket)
	Generation  uint64 // +1 for every new token; name it in Refresh when WeChat refuses this one
	ExpiresAtMs int64  // Unix ms after which WeChat no longer accepts it
	FetchedAtMs int64  // Unix ms when the agent received it
	State       State
	// Stale: now >= ExpiresAtMs. The token is still returned (WeChat often accepts it a
	// few minutes more); normally it means the agent is down or failing.
	Stale bool

	// Status words, read outside the latch: each is one word, not consistent with the others.
	HeartbeatMs   int64 // the agent's last sign of life, Unix ms
	AgentPID      int   // 0 if no agent ever wrote
	AgentAlive    bool  // the heartbeat is within 3 intervals
	LastErrcode   int64 // last upstream errcode, 0 if the last call succeeded
	LastErrorAtMs int64 // when LastErrcode was set, 0 if never
}

// ExpiresAt is ExpiresAtMs as a time.
func (t Token) ExpiresAt() time.Time { return time.UnixMilli(t.ExpiresAtMs) }

// String never shows the token itself: a Token printed to a log must not leak it.
func (t Token) String() string {
	return "wxshm.Token{generation " + strconv.FormatUint(t.Generation, 10) + ", " + strconv.Itoa(len(t.Token)) +
		" bytes, state " + t.State.String() + ", expires " + t.ExpiresAt().UTC().Format(time.RFC3339) + "}"
}

// GoString keeps %#v from printing the token as well.
func (t Token) GoString() string { return t.String() }

// Handle is an open item. Read is safe for any number of goroutines at once, and so are
// Refresh and Close.
type Handle struct {
	item   string
	dir    string
	socket string
	m      atomic.Pointer[mapping] // nil once closed
	reopen sync.Mutex              // one re-open of a retired segment at a time
}

// Option changes where Open looks.
type Option func(*Handle)

// WithDir reads segments from dir instead of DefaultDir() ($WXSHM_DIR or /dev/shm/wxtokend).
func WithDir(dir string) Option { return func(h *Handle) { h.dir = dir } }

// WithSocket asks the agent at path instead of DefaultSocket() ($WXTOKEND_SOCKET or
// /run/wxtokend/wxtokend.sock).
func WithSocket(path string) Option { return func(h *Handle) { h.socket = path } }

// Open opens the segment of item ("shop", or "shop.jsapi" for a ticket) under the trust
// rule and maps it read-only. It fails with ErrNotFound, ErrAccess, ErrNotTrusted,
// ErrBadSegment, ErrVersion, ErrBusy (the agent is creating it) or ErrInvalid.
func Open(item string, opts ...Option) (*Handle, error) {
	h := &Handle{item: item}
	for _, o := range opts {
		o(h)
	}
	if h.dir == "" {
		h.dir = DefaultDir()
	}
	if h.socket == "" {
		h.socket = DefaultSocket()
	}
	if !ValidName(item) || !validDir(h.dir) {
		return nil, newError("open", item, syscall.EINVAL)
	}
	m, errno := openMapping(h.dir, item)
	if errno != 0 {
		return nil, newError("open", item, errno)
	}
	h.m.Store(m)
	return h, nil
}

// OpenDir is Open(item, WithDir(dir)).
func OpenDir(dir, item string) (*Handle, error) { return Open(item, WithDir(dir)) }

// Item is the name the handle was opened with.
func (h *Handle) Item() string { return h.item }

// Dir is the directory the segment was opened in.
func (h *Handle) Dir() string { return h.dir }

// Close releases the handle; later calls fail with ErrClosed. The mapping itself is
// unmapped by the garbage collector once no Read still uses it, so Close is safe while
// other goroutines read. Close never fails.
func (h *Handle) Close() error {
	h.m.Store(nil)
	return nil
}

// read.go: Read, the latch over the mapping with a sync/atomic load of every word, no system call.

package wxshm

import (
	"encoding/binary"
	"math"
	"runtime"
	"syscall"
	"time"
	"unsafe"
)

// slotCopy is one consistent copy of a slot.
type slotCopy struct {
	token      string
	generation uint64
	expires    int64
	fetched    int64
}

// latch copies the slot readers are sent to, retrying while the writer moves them. Every
// word, seq included, is a sync/atomic load: Go's atomics are sequentially consistent, so
// no copied word can be loaded after the second load of seq (an acquire load of every
// copied word, doc/segment.md's second recipe). A plain load of the token and one
// atomic re-check of seq would not be enough on arm64.
func (m *mapping) latch() (slotCopy, syscall.Errno) {
	var buf []byte

	for round := 0; round < readRounds; round++ {
		if round > 0 {
			runtime.Gosched()
		}
		for attempt := 0; attempt < readAttempts; attempt++ {
			seq := m.word(offSeq)
			slot := uintptr(offSlot0) + uintptr(seq&1)*layoutSlotSize
			length := m.word(slot + offLength)
			// A torn length may be anything: only a possible one sizes the copy.
			if length <= tokenCapacity {
				words := int(length+7) / 8
				if cap(buf) < words*8 {
					buf = make([]byte, words*8)
				}
				buf = buf[:words*8]
				src := slot + offToken
				for i := 0; i < words; i++ {
					binary.LittleEndian.PutUint64(buf[i*8:], m.word(src+uintptr(i)*8))
				}
			}
			generation := m.word(slot + offGeneration)
			expires := int64(m.word(slot + offExpires))
			fetched := int64(m.word(slot + offFetched))
			if m.word(offSeq) != seq {
				continue
			}
			if length > tokenCapacity {
				return slotCopy{}, syscall.EBADMSG
			}
			if generation == 0 {
				return slotCopy{}, syscall.ENODATA
			}
			// buf is this copy's own and never written again: the string may share it.
			b := buf[:length]
			return slotCopy{*(*string)(unsafe.Pointer(&b)), generation, expires, fetched}, 0
		}
	}
	return slotCopy{}, syscall.EAGAIN
}

// read is one read of one mapping: the retired word, the latch, then the status words.
func (m *mapping) read(t *Token) syscall.Errno {
	switch m.word(offRetired) {
	case retiredLive:
	case retiredRemoved:
		return syscall.ENXIO
	default:
		return syscall.EIDRM
	}
	c, errno := m.latch()
	if errno != 0 {
		return errno
	}
	now := time.Now().UnixMilli()
	t.Token = c.token
	t.Generation = c.generation
	t.ExpiresAtMs = c.expires
	t.FetchedAtMs = c.fetched
	t.Stale = now >= c.expires
	t.State = State(int32(m.word(offState)))
	t.HeartbeatMs = int64(m.word(offHeartbeat))
	t.AgentPID = int(int32(m.word(offAgentPID)))
	t.LastErrcode = int64(m.word(offLastErrcode))
	t.LastErrorAtMs = int64(m.word(offLastErrorAt))
	t.AgentAlive = alive(t.AgentPID, t.HeartbeatMs, m.interval, now)
	return 0
}

// alive: the heartbeat is at most 3 intervals old (a deadline past the end of time counts as alive).
func alive(pid int, heartbeat, interval, now int64) bool {
	if pid <= 0 || heartbeat <= 0 || interval <= 0 {
		return false
	}
	if interval > (math.MaxInt64-heartbeat)/3 {
		return true
	}
	return now-heartbeat <= 3*interval
}

// Read copies the current token. It makes no system call (the clock is read through the
// vDSO) and never waits for the agent. An expired token is returned with Stale set and a
// nil error. Errors: ErrNoData (nothing published yet), ErrRemoved (the item was removed
// from the agent's config), ErrBusy (the writer kept changing the token), ErrBadSegment,
// ErrClosed, and whatever re-opening a retired segment gives (it is re-opened once,
// automatically; ErrRetired if the new one is retired too).
func (h *Handle) Read() (Token, error) {
	var t Token

	m := h.m.Load()
	if m == nil {
		return t, newError("read", h.item, syscall.EBADF)
	}
	errno := m.read(&t)
	// The memory read above must stay mapped until here: the finalizer must not run earlier.
	runtime.KeepAlive(m)
	if errno == syscall.EIDRM {
		if m, errno = h.reopened(m); errno == 0 {
			errno = m.read(&t)
			runtime.KeepAlive(m)
		}
	}
	if errno != 0 {
		return Token{}, newError("read", h.item, errno)
	}
	return t, nil
}

// reopened replaces the retired mapping old by a fresh open of the name, once for all the
// goroutines that found it retired together.
func (h *Handle) reopened(old *mapping) (*mapping, syscall.Errno) {
	h.reopen.Lock()
	defer h.reopen.Unlock()
	cur := h.m.Load()
	if cur == nil {
		return nil, syscall.EBADF
	}
	if cur != old {
		return cur, 0 // another goroutine re-opened it meanwhile
	}
	m, errno := openMapping(h.dir, h.item)
	if errno != 0 {
		return nil, errno
	}
	// Old stays mapped while a Read still uses it; then the garbage collector unmaps it.
	if !h.m.CompareAndSwap(old, m) {
		return nil, syscall.EBADF // closed meanwhile
	}
	return m, 0
}

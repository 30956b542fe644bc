// errors.go: the errors of package wxshm, one sentinel per meaning, each carrying libwxshm's errno.

package wxshm

import (
	"errors"
	"fmt"
	"syscall"
	"time"
)

// Sentinel errors, for errors.Is. Every error this package returns is an *Error
// wrapping one of these (or, for an unexpected system error, the syscall.Errno itself).
var (
	ErrNotFound       = errors.New("wxshm: not found (the agent does not know the item yet, or is not running)") // ENOENT
	ErrRemoved        = errors.New("wxshm: the item was removed from the agent's config")                        // ENXIO
	ErrRetired        = errors.New("wxshm: the segment was retired")                                             // EIDRM
	ErrAccess         = errors.New("wxshm: access denied")                                                       // EACCES
	ErrNotTrusted     = errors.New("wxshm: not made by the agent, not trusted")                                  // EPERM
	ErrBadSegment     = errors.New("wxshm: not a wxshm segment, or corrupt")                                     // EBADMSG
	ErrVersion        = errors.New("wxshm: segment of a newer layout version")                                   // EPROTONOSUPPORT
	ErrNoData         = errors.New("wxshm: no token published yet")                                              // ENODATA
	ErrBusy           = errors.New("wxshm: busy (the agent is writing or creating the segment), try again")      // EAGAIN
	ErrRateLimited    = errors.New("wxshm: rate limited, forced refreshes are spaced")                           // EAGAIN
	ErrTimeout        = errors.New("wxshm: timed out")                                                           // ETIMEDOUT
	ErrUpstream       = errors.New("wxshm: the upstream call failed, the old token stays published")             // EIO
	ErrTooManyWaiters = errors.New("wxshm: too many callers already wait for this item")                         // EBUSY
	ErrAgentStopping  = errors.New("wxshm: the agent is not running or is shutting down")                        // ECONNREFUSED
	ErrProtocol       = errors.New("wxshm: the agent's reply was not understood")                                // EPROTO
	ErrInvalid        = errors.New("wxshm: invalid argument")                                                    // EINVAL
	ErrClosed         = errors.New("wxshm: handle closed")                                                       // EBADF
)

// Error is what every failing call returns: which operation on which item failed, the
// errno libwxshm returns for the same failure, and the sentinel saying what it means.
type Error struct {
	Op    string        // "open", "read" or "refresh"
	Item  string        // the item's name
	Errno syscall.Errno // as libwxshm would return it (negated there)
	Err   error         // one of the Err* sentinels, or the Errno for anything else
	// RetryAfter is set with ErrRateLimited: when the agent would take a forced refresh again.
	RetryAfter time.Duration
	// Detail is the agent's message, for refresh errors it answered.
	Detail string
}

func (e *Error) Error() string {
	s := fmt.Sprintf("wxshm %s %q: %v", e.Op, e.Item, e.Err)
	if e.Err != error(e.Errno) {
		s += fmt.Sprintf(" (%s)", errnoName(e.Errno))
	}
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(", retry after %v", e.RetryAfter)
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap gives the sentinel, so errors.Is(err, wxshm.ErrNotFound) works.
func (e *Error) Unwrap() error { return e.Err }

// Is also matches the errno: errors.Is(err, syscall.ENOENT) holds for ErrNotFound.
func (e *Error) Is(target error) bool {
	if errno, ok := target.(syscall.Errno); ok {
		return errno == e.Errno
	}
	return false
}

// Timeout says whether the operation timed out (net.Error style).
func (e *Error) Timeout() bool { return e.Errno == syscall.ETIMEDOUT }

// Temporary says whether trying again later may succeed.
func (e *Error) Temporary() bool {
	return e.Errno == syscall.EAGAIN || e.Errno == syscall.ETIMEDOUT || e.Errno == syscall.EBUSY
}

// sentinel is the meaning of an errno from a system call or a read. EIO is not here: only the
// agent's "upstream_failed" means ErrUpstream (replySentinel); a system call's EIO stays itself.
func sentinel(errno syscall.Errno) error {
	switch errno {
	case syscall.ENOENT:
		return ErrNotFound
	case syscall.ENXIO:
		return ErrRemoved
	case syscall.EIDRM:
		return ErrRetired
	case syscall.EACCES:
		return ErrAccess
	case syscall.EPERM:
		return ErrNotTrusted
	case syscall.EBADMSG:
		return ErrBadSegment
	case syscall.EPROTONOSUPPORT:
		return ErrVersion
	case syscall.ENODATA:
		return ErrNoData
	case syscall.EAGAIN:
		return ErrBusy
	case syscall.ETIMEDOUT:
		return ErrTimeout
	case syscall.EBUSY:
		return ErrTooManyWaiters
	case syscall.ECONNREFUSED:
		return ErrAgentStopping
	case syscall.EPROTO:
		return ErrProtocol
	case syscall.EINVAL:
		return ErrInvalid
	case syscall.EBADF:
		return ErrClosed
	}
	return errno
}

func newError(op, item string, errno syscall.Errno) *Error {
	return &Error{Op: op, Item: item, Errno: errno, Err: sentinel(errno)}
}

// errnoName is the C name of the errnos this package gives, for messages and the tests.
func errnoName(errno syscall.Errno) string {
	for name, e := range errnoNames {
		if e == errno {
			return name
		}
	}
	return fmt.Sprintf("errno %d", int(errno))
}

var errnoNames = map[string]syscall.Errno{
	"ENOENT": syscall.ENOENT, "ENXIO": syscall.ENXIO, "EIDRM": syscall.EIDRM, "EACCES": syscall.EACCES,
	"EPERM": syscall.EPERM, "EBADMSG": syscall.EBADMSG, "EPROTONOSUPPORT": syscall.EPROTONOSUPPORT,
	"ENODATA": syscall.ENODATA, "EAGAIN": syscall.EAGAIN, "ETIMEDOUT": syscall.ETIMEDOUT, "EIO": syscall.EIO,
	"EBUSY": syscall.EBUSY, "ECONNREFUSED": syscall.ECONNREFUSED, "EPROTO": syscall.EPROTO,
	"EINVAL": syscall.EINVAL, "EBADF": syscall.EBADF, "ECANCELED": syscall.ECANCELED,
	"ENAMETOOLONG": syscall.ENAMETOOLONG,
}

// name.go: the item name grammar and where the directory and the socket are, from the environment.

package wxshm

import "os"

func nameChar(c byte) bool {
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'
}

// nameRun is the length of the run of name characters at the start of s, or -1 past max.
func nameRun(s string, max int) int {
	n := 0
	for n < len(s) && nameChar(s[n]) {
		n++
		if n > max {
			return -1
		}
	}
	return n
}

// ValidName says whether item is [A-Za-z0-9_-]{1,64}, optionally followed by one dot and a
// suffix of 1..40 bytes, name characters with at most one more dot inside ("shop",
// "shop.jsapi", "platform.wx0123456789abcdef", "platform.wx0123456789abcdef.jsapi": an
// account's ticket). Nothing else is ever made into a path.
func ValidName(item string) bool {
	n := nameRun(item, nameMax)
	if n <= 0 {
		return false
	}
	if n == len(item) {
		return true
	}
	if item[n] != '.' {
		return false
	}
	rest := item[n+1:]
	m := nameRun(rest, suffixMax)
	if m > 0 && m < len(rest) && rest[m] == '.' {
		k := nameRun(rest[m+1:], suffixMax)
		if k <= 0 {
			return false
		}
		m += 1 + k
	}
	return m > 0 && m == len(rest) && m <= suffixMax
}

func validDir(dir string) bool {
	return len(dir) > 0 && dir[0] == '/' && len(dir) < dirMax
}

// secureGetenv is os.Getenv, but empty in a set-user-ID or set-group-ID program (as C's
// secure_getenv): whoever runs such a program must not choose what it trusts.
func secureGetenv(key string) string {
	if os.Getuid() != os.Geteuid() || os.Getgid() != os.Getegid() {
		return ""
	}
	return os.Getenv(key)
}

// DefaultDir is where segments are: $WXSHM_DIR if it is an absolute path shorter than
// 256 bytes, else /dev/shm/wxtokend.
func DefaultDir() string {
	if d := secureGetenv("WXSHM_DIR"); validDir(d) {
		return d
	}
	return defaultDir
}

// DefaultSocket is the agent's socket: $WXTOKEND_SOCKET if set, else /run/wxtokend/wxtokend.sock.
func DefaultSocket() string {
	if s := secureGetenv("WXTOKEND_SOCKET"); s != "" {
		return s
	}
	return defaultSocket
}

// agent_test.go: this binding against the real agent and wxemu (tests/conformance/with-agent.sh); run by test.sh.

package wxshm

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// agentEnv skips unless with-agent.sh started the agent (test.sh counts a skip as a failure).
func agentEnv(t *testing.T) {
	for _, v := range []string{"WXEMU_URL", "WXSHM_DIR", "WXTOKEND_SOCKET", "WXTOKEND_PID"} {
		if os.Getenv(v) == "" {
			t.Skipf("%s not set: run bindings/go/test.sh (tests/conformance/with-agent.sh)", v)
		}
	}
}

func openAgent(t *testing.T, item string) *Handle {
	h, err := Open(item) // WXSHM_DIR and WXTOKEND_SOCKET from with-agent.sh
	if err != nil {
		t.Fatalf("open %s: %v", item, err)
	}
	return h
}

// emuHTTP is one HTTP/1.0 request to wxemu and its body: net/http would cost the -race build
// of the tests (net/http and crypto race-instrumented) more than the rest of it together.
func emuHTTP(t *testing.T, method, path string) []byte {
	host := strings.TrimPrefix(os.Getenv("WXEMU_URL"), "http://")
	c, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err = io.WriteString(c, method+" "+path+" HTTP/1.0\r\nHost: "+host+"\r\nContent-Length: 0\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := io.ReadAll(c)
	head, body, found := strings.Cut(string(resp), "\r\n\r\n")
	if err != nil || !found || !strings.HasPrefix(head, "HTTP/1.") || !strings.Contains(strings.SplitN(head, "\r\n", 2)[0], " 200 ") {
		t.Fatalf("wxemu %s %s: %v %q", method, path, err, resp)
	}
	return []byte(body)
}

// emuTokenCalls is wxemu's count of token calls (every endpoint, every app): the upstream calls.
func emuTokenCalls(t *testing.T) int64 {
	var stats struct {
		Apps map[string]map[string]any `json:"apps"`
	}
	if err := json.Unmarshal(emuHTTP(t, "GET", "/emu/stats"), &stats); err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, a := range stats.Apps {
		for _, k := range []string{"token_calls", "stable_normal", "stable_force", "gettoken_calls"} {
			if v, ok := a[k].(float64); ok {
				n += int64(v)
			}
		}
	}
	return n
}

func emuControl(t *testing.T, what string) {
	emuHTTP(t, "POST", "/emu/"+what)
}

// agentStatus is the agent's status entry of item, over the socket.
func agentStatus(t *testing.T, h *Handle) map[string]any {
	reply, errno := request(h.socket, h.m.Load().owner, []byte(`{"op":"status"}`+"\n"), time.Now().Add(5*time.Second))
	if errno != 0 {
		t.Fatalf("status: %v", errno)
	}
	var st struct {
		Apps []map[string]any `json:"apps"`
	}
	if err := json.Unmarshal(reply, &st); err != nil {
		t.Fatalf("status: %v", err)
	}
	for _, a := range st.Apps {
		if a["app"] == h.item {
			return a
		}
	}
	t.Fatalf("no status of %s in %s", h.item, reply)
	return nil
}

func TestAgentRead(t *testing.T) {
	agentEnv(t)
	for _, item := range []string{"shop", "mall", "mall.jsapi"} {
		h := openAgent(t, item)
		tok, err := h.Read()
		if err != nil {
			t.Fatalf("%s: %v", item, err)
		}
		pid, _ := strconv.Atoi(os.Getenv("WXTOKEND_PID"))
		if tok.Generation < 1 || tok.Token == "" || tok.Stale || !tok.AgentAlive || tok.AgentPID != pid ||
			tok.State != StateFresh || tok.ExpiresAtMs <= time.Now().UnixMilli() || tok.FetchedAtMs > time.Now().UnixMilli() {
			t.Fatalf("%s: %v %+v", item, tok, struct {
				G                   uint64
				Stale, Alive        bool
				PID                 int
				State               State
				Expires, Fetched, N int64
			}{tok.Generation, tok.Stale, tok.AgentAlive, tok.AgentPID, tok.State, tok.ExpiresAtMs, tok.FetchedAtMs,
				time.Now().UnixMilli()})
		}
	}
}

// refreshSpaced is Refresh, waiting out the agent's spacing of forced refreshes (bounded).
func refreshSpaced(t *testing.T, h *Handle, g uint64) uint64 {
	for attempt := 0; ; attempt++ {
		g2, err := h.Refresh(g, 10*time.Second)
		var e *Error
		if errors.As(err, &e) && errors.Is(err, ErrRateLimited) && attempt < 3 && e.RetryAfter < 20*time.Second {
			t.Logf("rate limited, retrying after %v", e.RetryAfter)
			time.Sleep(e.RetryAfter + 10*time.Millisecond) // the agent said when: no event to wait for
			continue
		}
		if err != nil {
			t.Fatalf("refresh %d: %v", g, err)
		}
		return g2
	}
}

// Compare-and-refresh through rotations: each forced generation costs exactly one upstream call,
// the token read afterwards is the new one, and naming an old generation costs none.
func TestAgentRotation(t *testing.T) {
	agentEnv(t)
	h := openAgent(t, "shop")
	tok, err := h.Read()
	if err != nil {
		t.Fatal(err)
	}
	first := tok.Generation
	for i := 0; i < 3; i++ {
		before := emuTokenCalls(t)
		g := refreshSpaced(t, h, tok.Generation)
		if g <= tok.Generation {
			t.Fatalf("refresh of %d gave %d", tok.Generation, g)
		}
		if calls := emuTokenCalls(t) - before; calls != 1 {
			t.Fatalf("rotation %d: %d upstream calls, want 1", i, calls)
		}
		next, err := h.Read()
		if err != nil || next.Generation < g || next.Token == tok.Token {
			t.Fatalf("after refresh to %d: %v %v", g, next, err)
		}
		tok = next
	}

	// The way it happens: another server fetched a token, so WeChat refuses ours (40001);
	// the reader names the generation its call used, gets the next one, and the retry works.
	emuControl(t, "rotate?app="+os.Getenv("WXEMU_APPID_shop"))
	if code := businessCall(t, tok.Token); code != 40001 {
		t.Fatalf("a call with the rotated-out token: errcode %d, want 40001", code)
	}
	before := emuTokenCalls(t)
	g := refreshSpaced(t, h, tok.Generation)
	next, err := h.Read()
	if err != nil || g <= tok.Generation || next.Generation < g {
		t.Fatalf("after 40001: %d, %v %v", g, next, err)
	}
	if calls := emuTokenCalls(t) - before; calls != 1 {
		t.Fatalf("after 40001: %d upstream calls, want 1", calls)
	}
	if code := businessCall(t, next.Token); code != 0 {
		t.Fatalf("the retry with the new token: errcode %d", code)
	}
	tok = next

	before = emuTokenCalls(t)
	if g, err := h.Refresh(first, 5*time.Second); err != nil || g != tok.Generation {
		t.Fatalf("an old generation: %d %v, want %d at once", g, err, tok.Generation)
	}
	if tok2, err := h.RefreshToken(context.Background(), first); err != nil || tok2.Token != tok.Token {
		t.Fatalf("refresh token of an old generation: %v %v", tok2, err)
	}
	if calls := emuTokenCalls(t) - before; calls != 0 {
		t.Fatalf("%d upstream calls for old generations, want 0", calls)
	}
}

// businessCall is a WeChat API call with token (wxemu's getcallbackip): its errcode, 0 if none.
func businessCall(t *testing.T, token string) int {
	var r struct {
		Errcode int `json:"errcode"`
	}
	if err := json.Unmarshal(emuHTTP(t, "GET", "/cgi-bin/getcallbackip?access_token="+token), &r); err != nil {
		t.Fatal(err)
	}
	return r.Errcode
}

// N goroutines refreshing the same generation: one request to the agent, one upstream call.
func TestAgentCoalesced(t *testing.T) {
	agentEnv(t)
	h := openAgent(t, "shop")
	tok, err := h.Read()
	if err != nil {
		t.Fatal(err)
	}
	// The upstream call takes 3 s, so every caller joins while it is in flight.
	emuControl(t, "fault?kind=slow&ms=3000&count=1")
	st0 := agentStatus(t, h)
	before := emuTokenCalls(t)
	const n = 16
	var wg sync.WaitGroup
	gens := make([]uint64, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			gens[i], errs[i] = h.Refresh(tok.Generation, 20*time.Second)
		}(i)
	}
	key := flightKey{h.socket, h.dir, h.item, tok.Generation}
	joined := 0
	for waited := 0; waited < 5000 && joined < n; waited++ {
		flights.Lock()
		if f := flights.m[key]; f != nil {
			joined = f.waiters
		}
		flights.Unlock()
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
	if joined != n {
		t.Fatalf("%d of %d callers joined the request in flight", joined, n)
	}
	for i := 0; i < n; i++ {
		if errs[i] != nil || gens[i] != gens[0] || gens[0] <= tok.Generation {
			t.Fatalf("caller %d: %d %v (first %d)", i, gens[i], errs[i], gens[0])
		}
	}
	st1 := agentStatus(t, h)
	if calls := emuTokenCalls(t) - before; calls != 1 {
		t.Fatalf("%d upstream calls, want 1", calls)
	}
	// The agent saw one request: one forced refresh, nobody coalesced on its side.
	if st1["forced_refreshes"].(float64)-st0["forced_refreshes"].(float64) != 1 ||
		st1["coalesced_waiters"] != st0["coalesced_waiters"] {
		t.Fatalf("agent: forced %v -> %v, coalesced %v -> %v", st0["forced_refreshes"], st1["forced_refreshes"],
			st0["coalesced_waiters"], st1["coalesced_waiters"])
	}
}

// Items the agent does not know: no segment; a segment elsewhere the agent is asked about.
func TestAgentUnknown(t *testing.T) {
	agentEnv(t)
	_, err := Open("nosuchapp")
	wantErr(t, err, ErrNotFound, syscall.ENOENT)
	_, err = Open("shop.nosuchticket")
	wantErr(t, err, ErrNotFound, syscall.ENOENT)
	// A segment of root's in another directory, named like no app of the agent's.
	samples := kitEnv(t, "WXCONF_SAMPLES")
	dir := t.TempDir() + "/samples"
	if out, err := exec.Command(samples, dir).CombinedOutput(); err != nil {
		t.Fatalf("wxconf-samples: %v %s", err, out)
	}
	h, err := OpenDir(dir, "valid")
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.Refresh(1, time.Second)
	wantErr(t, err, ErrNotFound, syscall.ENOENT)
	// No agent at that socket.
	h2, err := Open("shop", WithSocket(t.TempDir()+"/none.sock"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = h2.Refresh(1, time.Second)
	wantErr(t, err, ErrNotFound, syscall.ENOENT)
}

// Removed from the config: the open handle says so (ENXIO), and the name is gone.
// Last of this run: it changes the agent's config.
func TestAgentRemoved(t *testing.T) {
	agentEnv(t)
	conf, ctl := os.Getenv("WXTOKEND_CONF"), os.Getenv("WXTOKENCTL")
	if conf == "" || ctl == "" {
		t.Skip("WXTOKEND_CONF or WXTOKENCTL not set")
	}
	h := openAgent(t, "mall")
	ticket := openAgent(t, "mall.jsapi")
	text, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	// Drop the [app mall] section (up to the next section or the end).
	re := regexp.MustCompile(`(?ms)^\[app mall\][^\[]*`)
	cut := re.ReplaceAll(text, nil)
	if len(cut) == len(text) {
		t.Fatalf("no [app mall] section in %s:\n%s", conf, text)
	}
	if err = os.WriteFile(conf, cut, 0o640); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(ctl, "reload").CombinedOutput(); err != nil {
		t.Fatalf("wxtokenctl reload: %v %s", err, out)
	}
	for _, x := range []*Handle{h, ticket} {
		_, err = x.Read()
		wantErr(t, err, ErrRemoved, syscall.ENXIO)
	}
	_, err = Open("mall")
	wantErr(t, err, ErrNotFound, syscall.ENOENT)
}

// Run as a user who is not in the apps' group (test.sh: setpriv as wxconfuser).
func TestAgentDenied(t *testing.T) {
	agentEnv(t)
	if os.Getenv("WXSHM_TEST_DENIED") == "" {
		t.Skip("only as the unprivileged user: WXSHM_TEST_DENIED")
	}
	if os.Geteuid() == 0 {
		t.Fatal("running as root")
	}
	_, err := Open("shop")
	wantErr(t, err, ErrAccess, syscall.EACCES)
}

// The agent stopped: the token stays readable, a refresh says nobody is there. Run alone
// (test.sh), as it ends the agent.
func TestAgentDown(t *testing.T) {
	agentEnv(t)
	if os.Getenv("WXSHM_TEST_DOWN") == "" {
		t.Skip("only in its own with-agent.sh run: WXSHM_TEST_DOWN")
	}
	h := openAgent(t, "shop")
	tok, err := h.Read()
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(os.Getenv("WXTOKEND_PID"))
	if err = syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Wait (bounded) for the process to be gone.
	for i := 0; i < 1000 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if syscall.Kill(pid, 0) == nil {
		t.Fatal("the agent did not stop within 10 s")
	}
	after, err := h.Read()
	if err != nil || after.Token != tok.Token || after.State != StateStopped {
		t.Fatalf("read after the agent stopped: %v %v", after, err)
	}
	_, err = h.Refresh(after.Generation, time.Second)
	if !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrAgentStopping) {
		t.Fatalf("refresh with the agent down: %v, want ErrNotFound or ErrAgentStopping", err)
	}
}

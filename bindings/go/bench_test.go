// bench_test.go: what a read costs against a fresh string of the token's length and the socket's get (bench.sh runs the table).

package wxshm

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

var benchSink string

// The go test -bench forms, on a segment of the tests' own (length 160, a real token's size).
func benchHandle(b *testing.B, n int) *Handle {
	dir := testDir(b)
	newTestSeg(b, dir, "shop").publish([]byte(strings.Repeat("t", n)), 1, time.Now().UnixMilli()+1000000, 0)
	h, err := OpenDir(dir, "shop")
	if err != nil {
		b.Fatal(err)
	}
	return h
}

func BenchmarkRead(b *testing.B) {
	h := benchHandle(b, 160)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		t, err := h.Read()
		if err != nil {
			b.Fatal(err)
		}
		benchSink = t.Token
	}
}

func BenchmarkFreshString(b *testing.B) {
	src := make([]byte, 160)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		benchSink = string(src)
	}
}

func BenchmarkReadParallel(b *testing.B) {
	h := benchHandle(b, 160)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := h.Read(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// roundNs is the ns per call of f over n calls.
func roundNs(n int, f func()) float64 {
	start := time.Now()
	for i := 0; i < n; i++ {
		f()
	}
	return float64(time.Since(start).Nanoseconds()) / float64(n)
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// TestBenchTable is bench.sh's run, against the real agent: read, the baseline and the
// socket's get, in alternating rounds, medians. WXSHM_BENCH_OUT names the table's file.
func TestBenchTable(t *testing.T) {
	outFile := os.Getenv("WXSHM_BENCH_OUT")
	if outFile == "" {
		t.Skip("bench.sh's run: WXSHM_BENCH_OUT")
	}
	agentEnv(t)
	h := openAgent(t, "shop")
	tok, err := h.Read()
	if err != nil {
		t.Fatal(err)
	}
	n := len(tok.Token)
	src := make([]byte, n)
	owner := h.m.Load().owner
	get := []byte(`{"op":"get","app":"shop"}` + "\n")
	read := func() {
		t, err := h.Read()
		if err != nil {
			panic(err)
		}
		benchSink = t.Token
	}
	fresh := func() { benchSink = string(src) }
	socket := func() {
		reply, errno := request(h.socket, owner, get, time.Now().Add(5*time.Second))
		var r struct {
			Token string `json:"token"`
		}
		if errno != 0 || json.Unmarshal(reply, &r) != nil || r.Token == "" {
			panic(fmt.Sprintf("get: %v %s", errno, reply))
		}
		benchSink = r.Token
	}
	const rounds = 9
	var rs, fs, ss []float64
	for i := 0; i < 1000; i++ { // warm: the connection, the caches
		read()
		fresh()
	}
	socket()
	for r := 0; r < rounds; r++ {
		rs = append(rs, roundNs(200000, read))
		fs = append(fs, roundNs(200000, fresh))
		ss = append(ss, roundNs(300, socket))
	}
	mr, mf, ms := median(rs), median(fs), median(ss)
	table := fmt.Sprintf("Go %s binding (pure Go, sync/atomic), token of %d bytes, medians of %d rounds\n"+
		"%-44s %10s %8s\n%-44s %10.1f %8s\n%-44s %10.1f %7.2fx\n%-44s %10.1f %7.1fx\n"+
		"read is %.1fx faster than the socket's get\n",
		strings.TrimPrefix(runtimeVersion(), "go"), n, rounds,
		"operation", "ns/op", "ratio",
		"baseline: string(b) of the token's length", mf, "1.00x",
		"wxshm Handle.Read", mr, mr/mf,
		"socket get (kept-open connection, JSON)", ms, ms/mf,
		ms/mr)
	fmt.Print(table)
	if err := os.WriteFile(outFile, []byte(table), 0o644); err != nil {
		t.Fatal(err)
	}
}

func runtimeVersion() string { return runtime.Version() }

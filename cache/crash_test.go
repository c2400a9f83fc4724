package cache_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/sealift-dev/sealift/cache"
)

// The crash test re-runs this test binary as a writer process and kills it.
const (
	// crashWriterEnv names the cache directory of the writer process; set
	// only in the child.
	crashWriterEnv = "SEALIFT_CACHE_CRASH_WRITER"
	// crashLogEnv names the file where the writer logs its commits.
	crashLogEnv = "SEALIFT_CACHE_CRASH_LOG"
	// crashSeedEnv seeds the writer's choices.
	crashSeedEnv = "SEALIFT_CACHE_CRASH_SEED"
	// crashIterationsEnv overrides defaultCrashIterations (the slow suite
	// sets it to 100 or more).
	crashIterationsEnv = "SEALIFT_CRASH_ITERATIONS"

	// defaultCrashIterations keeps the default suite fast; the slow suite
	// (hack/cache-crash.sh) runs many more.
	defaultCrashIterations = 5
	// crashMaxDelay bounds how long a writer runs (after opening the cache)
	// before it is killed: long enough for a dozen commits or more, so kills
	// land in every phase of a write.
	crashMaxDelay = 400 * time.Millisecond
	// crashDuringOpen is the share of kills (1 in N) aimed at start-up and
	// Open's repair instead of the write loop.
	crashDuringOpen = 5
	// crashRetention is small so that history trimming and GC run often.
	crashRetention = 3
	// crashSyncs is how many syncs the writer commits to.
	crashSyncs = 3
)

// TestCrashWriterProcess is the writer that TestCrashSafety kills; it does
// nothing in a normal run. It loops: pack a new artifact (some blobs large
// enough to be killed half-way), log "begin", Commit, log "done", and now and
// then run GC. A "done" line is written only after Commit returned.
func TestCrashWriterProcess(t *testing.T) {
	dir := os.Getenv(crashWriterEnv)
	if dir == "" {
		t.Skip("helper process of TestCrashSafety")
	}
	seed, err := strconv.ParseUint(os.Getenv(crashSeedEnv), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	log, err := os.OpenFile(os.Getenv(crashLogEnv), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	src := rand.NewChaCha8(key)
	rng := rand.New(src)
	c, err := cache.Open(ctx, dir, cache.Options{Retention: crashRetention, GCGracePeriod: -1, OpenTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// Tell the parent the cache is open (fd 3 is its pipe).
	ready := os.NewFile(3, "ready")
	if _, err := ready.Write([]byte{'\n'}); err != nil {
		t.Fatal(err)
	}
	ready.Close()
	for i := 0; ; i++ {
		size := 1 + rng.IntN(4096)
		if rng.IntN(4) == 0 {
			size = 256<<10 + rng.IntN(256<<10)
		}
		unique := make([]byte, size)
		_, _ = src.Read(unique)
		a := pack(t, c, fmt.Sprintf("seed %d rev %d", seed, i), string(unique), "a layer every revision shares")
		sync := fmt.Sprintf("ns/app-%d", rng.IntN(crashSyncs))
		writeLine(t, log, "begin", sync, a.manifest.Digest)
		commit(t, c, sync, a)
		writeLine(t, log, "done", sync, a.manifest.Digest)
		if rng.IntN(5) == 0 {
			if _, err := c.GC(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// writeLine logs one event with a single write, so that a kill leaves at
// most one partial line at the end.
func writeLine(t *testing.T, log *os.File, event, sync string, d digest.Digest) {
	t.Helper()
	if _, err := fmt.Fprintf(log, "%s %s %s\n", event, sync, d); err != nil {
		t.Fatal(err)
	}
}

// TestCrashSafety kills a writer process with SIGKILL at random points and
// checks after each kill that the cache opens, re-hashes clean, and holds
// exactly the revisions the writer committed (with their history) in full.
func TestCrashSafety(t *testing.T) {
	if os.Getenv(crashWriterEnv) != "" {
		t.Skip("in the writer process")
	}
	iterations := defaultCrashIterations
	if s := os.Getenv(crashIterationsEnv); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number", crashIterationsEnv, s)
		}
		iterations = n
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d, %d iterations", seed, iterations)
	rng := rand.New(rand.NewPCG(seed, 0))

	dir := filepath.Join(t.TempDir(), "cache")
	logPath := filepath.Join(t.TempDir(), "commits.log")
	committed := map[string][]digest.Digest{} // per sync, in commit order
	var logged int64                          // bytes of the log already read
	totalCommits := 0
	for i := range iterations {
		var stderr bytes.Buffer
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashWriterProcess$")
		cmd.Env = append(os.Environ(),
			crashWriterEnv+"="+dir,
			crashLogEnv+"="+logPath,
			crashSeedEnv+"="+strconv.FormatUint(rng.Uint64(), 10))
		cmd.Stdout, cmd.Stderr = &stderr, &stderr
		readyR, readyW, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.ExtraFiles = []*os.File{readyW}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		readyW.Close()
		ready := make(chan struct{})
		go func() {
			defer readyR.Close()
			if _, err := readyR.Read(make([]byte, 1)); err == nil {
				close(ready)
			}
		}()
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		delay := time.Duration(rng.Int64N(int64(crashMaxDelay)))
		phase := "writes"
		if rng.IntN(crashDuringOpen) == 0 {
			phase = "start-up" // the clock starts now, not once the cache is open
		} else {
			select {
			case err := <-exited:
				t.Fatalf("iteration %d: the writer exited before it was killed (%v):\n%s", i, err, stderr.String())
			case <-ready:
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("iteration %d: the writer exited before it was killed (%v):\n%s", i, err, stderr.String())
		case <-time.After(delay):
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if err := <-exited; err == nil || !strings.Contains(err.Error(), "killed") {
			t.Fatalf("iteration %d: the writer ended with %v, not by the kill:\n%s", i, err, stderr.String())
		}

		events, next := readCrashLog(t, logPath, logged)
		logged = next
		n := checkAfterCrash(t, dir, events, committed)
		totalCommits += n
		t.Logf("iteration %d: killed %s into %s, %d commits", i, delay, phase, n)
	}
	if totalCommits == 0 {
		t.Fatal("the writer never committed: the test exercised nothing")
	}
}

type crashEvent struct {
	done   bool
	sync   string
	digest digest.Digest
}

// readCrashLog parses the log from offset and cuts off a partial last line
// (the writer was killed while writing it) so the next writer starts clean.
func readCrashLog(t *testing.T, path string, offset int64) ([]crashEvent, int64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, offset
	}
	if err != nil {
		t.Fatal(err)
	}
	complete := int64(bytes.LastIndexByte(data, '\n') + 1)
	if complete < int64(len(data)) {
		if err := os.Truncate(path, complete); err != nil {
			t.Fatal(err)
		}
	}
	var events []crashEvent
	sc := bufio.NewScanner(bytes.NewReader(data[offset:complete]))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || (f[0] != "begin" && f[0] != "done") {
			t.Fatalf("bad log line %q", sc.Text())
		}
		events = append(events, crashEvent{done: f[0] == "done", sync: f[1], digest: digest.Digest(f[2])})
	}
	return events, complete
}

// checkAfterCrash opens the cache the way the next process would, settles
// whether the last commit the writer began landed, and checks the cache
// against every commit made so far. It returns the commits of this round.
func checkAfterCrash(t *testing.T, dir string, events []crashEvent, committed map[string][]digest.Digest) int {
	t.Helper()
	ctx := context.Background()
	c, err := cache.Open(ctx, dir, cache.Options{Retention: crashRetention, OpenTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("open after the crash: %v", err)
	}
	defer c.Close()
	if tmp, err := os.ReadDir(filepath.Join(dir, "tmp")); err != nil || len(tmp) != 0 {
		t.Fatalf("tmp/ after open: %d entries, %v", len(tmp), err)
	}

	n := 0
	var pending *crashEvent
	for i, e := range events {
		switch {
		case !e.done:
			if pending != nil {
				t.Fatalf("log: begin %s without done", pending.digest)
			}
			pending = &events[i]
		case pending == nil || pending.digest != e.digest:
			t.Fatalf("log: done %s without begin", e.digest)
		default:
			committed[e.sync] = append(committed[e.sync], e.digest)
			pending = nil
			n++
		}
	}
	if pending != nil {
		// Killed during Commit (or just before or after it): the commit
		// either landed whole, as the sync's last-applied revision, or not at
		// all; both are fine, and the model follows what happened.
		rev, ok, err := c.LastApplied(ctx, pending.sync)
		if err != nil {
			t.Fatal(err)
		}
		if ok && rev.Manifest.Digest == pending.digest {
			committed[pending.sync] = append(committed[pending.sync], pending.digest)
			n++
		}
	}

	report, err := c.Check(ctx)
	if err != nil {
		t.Fatalf("check after the crash: %v", err)
	}
	if len(report.Corrupt) != 0 {
		t.Fatalf("check after the crash found corrupt blobs: %v", report.Corrupt)
	}
	for sync, seq := range committed {
		rev, ok, err := c.LastApplied(ctx, sync)
		if err != nil || !ok {
			t.Fatalf("sync %s: last applied: %v, %v; %d commits made", sync, ok, err, len(seq))
		}
		if want := seq[len(seq)-1]; rev.Manifest.Digest != want {
			t.Fatalf("sync %s: last applied %s; the last commit was %s", sync, rev.Manifest.Digest, want)
		}
		history, err := c.History(ctx, sync)
		if err != nil {
			t.Fatal(err)
		}
		var got, want []digest.Digest
		for _, h := range history {
			got = append(got, h.Manifest.Digest)
		}
		for i := len(seq) - 2; i >= 0 && len(want) < crashRetention; i-- {
			want = append(want, seq[i])
		}
		if !slices.Equal(got, want) {
			t.Fatalf("sync %s: history %v; want %v", sync, got, want)
		}
		for _, r := range append([]cache.Revision{rev}, history...) {
			readWhole(t, c, r.Manifest)
		}
	}
	return n
}

// readWhole reads root and everything it reaches, each checked as it streams.
func readWhole(t *testing.T, c *cache.Cache, root ocispec.Descriptor) {
	t.Helper()
	ctx := context.Background()
	queue := []ocispec.Descriptor{root}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		if _, err := content.FetchAll(ctx, c, d); err != nil {
			t.Fatalf("revision %s: read %s: %v", root.Digest, d.Digest, err)
		}
		children, err := content.Successors(ctx, c, d)
		if err != nil {
			t.Fatalf("revision %s: successors of %s: %v", root.Digest, d.Digest, err)
		}
		queue = append(queue, children...)
	}
}

package cache_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sealift-dev/sealift/cache"
	"github.com/sealift-dev/sealift/errdef"
)

const lockProbeEnv = "SEALIFT_CACHE_LOCK_PROBE"

// TestLockProbeProcess is the child of TestSecondProcessIsRefused: it tries
// to open the cache another process holds and reports how that went.
func TestLockProbeProcess(t *testing.T) {
	dir := os.Getenv(lockProbeEnv)
	if dir == "" {
		t.Skip("helper process of TestSecondProcessIsRefused")
	}
	c, err := cache.Open(context.Background(), dir, cache.Options{OpenTimeout: 200 * time.Millisecond})
	if err == nil {
		c.Close()
		fmt.Println("opened")
		os.Exit(0)
	}
	fmt.Println(err)
	if errors.Is(err, errdef.ErrCacheLocked) {
		os.Exit(3)
	}
	os.Exit(4)
}

// TestSecondProcessIsRefused: while one process owns a cache directory, a
// second process gets ErrCacheLocked naming the directory, not a hang; once
// the owner closes it, the second process opens it.
func TestSecondProcessIsRefused(t *testing.T) {
	dir := t.TempDir()
	owner, err := cache.Open(context.Background(), dir, cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	probe := func() (int, string) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLockProbeProcess$")
		cmd.Env = append(os.Environ(), lockProbeEnv+"="+dir)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode(), string(out)
		}
		if err != nil {
			t.Fatalf("run probe: %v", err)
		}
		return 0, string(out)
	}
	code, out := probe()
	if code != 3 {
		t.Fatalf("second process exit %d, want 3 (ErrCacheLocked):\n%s", code, out)
	}
	if !strings.Contains(out, dir) {
		t.Errorf("second process error does not name the directory %s:\n%s", dir, out)
	}
	if err := owner.Close(); err != nil {
		t.Fatal(err)
	}
	if code, out := probe(); code != 0 || !strings.Contains(out, "opened") {
		t.Fatalf("after the owner closed: exit %d:\n%s", code, out)
	}
}

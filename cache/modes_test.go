package cache_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sealift-dev/sealift/cache"
	"github.com/sealift-dev/sealift/internal/limits"
)

// checkOwnerOnly walks dir and fails for every directory that is not 0700
// and every file that is not 0600.
func checkOwnerOnly(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		want := os.FileMode(0o600)
		if e.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %#o, want %#o", p, fi.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestAttackCacheReadableByOtherUsers fills a cache in a directory that
// was created open to everyone (as a shared or pre-created cache
// directory is), then loosens every mode as an older cache left them, and
// checks that Open leaves nothing readable to other local users: cached
// manifests can hold Secrets, and index.db decides what counts as
// verified.
func TestAttackCacheReadableByOtherUsers(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "cache")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil { // whatever the umask
		t.Fatal(err)
	}
	c, err := cache.Open(ctx, dir, cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := pack(t, c, "app", "kind: Secret\ndata: {password: aHVudGVyMg==}\n")
	commit(t, c, "default/app", a)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	checkOwnerOnly(t, dir)

	// A cache left by an older version, or loosened by hand.
	err = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if e.IsDir() {
			mode = 0o755
		}
		return os.Chmod(p, mode)
	})
	if err != nil {
		t.Fatal(err)
	}
	c = open(t, dir, cache.Options{})
	checkOwnerOnly(t, dir)
	if _, ok, err := c.LastApplied(ctx, "default/app"); err != nil || !ok {
		t.Fatalf("the tightened cache lost its revision: %v, %v", ok, err)
	}
}

// TestVerdictMaxAge checks that a verdict older than MaxAge (or dated in
// the future) is passed over, and that without the option any age is
// returned, as the engine needs offline.
func TestVerdictMaxAge(t *testing.T) {
	ctx := context.Background()
	c := open(t, t.TempDir(), cache.Options{})
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	cache.SetClock(c, func() time.Time { return now })
	const d = "sha256:0000000000000000000000000000000000000000000000000000000000000001"
	for _, tt := range []struct {
		name     string
		recorded time.Time
		opts     []cache.VerdictOption
		want     bool
	}{
		{"fresh", now.Add(-time.Hour), []cache.VerdictOption{cache.MaxAge(limits.MaxVerdictAge)}, true},
		{"just inside", now.Add(-limits.MaxVerdictAge), []cache.VerdictOption{cache.MaxAge(limits.MaxVerdictAge)}, true},
		{"too old", now.Add(-limits.MaxVerdictAge - time.Second), []cache.VerdictOption{cache.MaxAge(limits.MaxVerdictAge)}, false},
		{"from the future", now.Add(time.Minute), []cache.VerdictOption{cache.MaxAge(limits.MaxVerdictAge)}, false},
		{"too old, any age asked (offline)", now.Add(-30 * 24 * time.Hour), nil, true},
		{"zero max age means any", now.Add(-30 * 24 * time.Hour), []cache.VerdictOption{cache.MaxAge(0)}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := cache.Verdict{Digest: d, PolicyHash: "p", Verified: true, Time: tt.recorded}
			if err := c.RecordVerdict(ctx, v); err != nil {
				t.Fatal(err)
			}
			got, ok, err := c.Verdict(ctx, d, "p", tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.want {
				t.Fatalf("Verdict found = %v, want %v", ok, tt.want)
			}
			if ok && !got.Time.Equal(tt.recorded) {
				t.Errorf("verdict time = %s, want %s", got.Time, tt.recorded)
			}
			if _, ok, _ := c.Verdict(ctx, d, "other-policy", tt.opts...); ok {
				t.Error("a verdict was found under another policy hash")
			}
		})
	}
}

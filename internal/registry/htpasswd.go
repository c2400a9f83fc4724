package registry

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/sealift-dev/sealift/internal/limits"
)

// ErrBadHtpasswd is returned for an htpasswd file the registry could not
// authenticate anyone with.
var ErrBadHtpasswd = errors.New("bad htpasswd file")

// CheckHtpasswd reads an htpasswd file as the registry will and refuses one
// that is missing, empty, larger than limits.MaxHtpasswdBytes, malformed, or
// holds an entry that is not bcrypt (the only hash the registry checks; an
// MD5 or SHA entry would lock its user out without a word). A missing file
// matters most: the registry's htpasswd controller would otherwise create
// it with a random password for a user named "docker".
func CheckHtpasswd(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadHtpasswd, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limits.MaxHtpasswdBytes+1))
	if err != nil {
		return fmt.Errorf("%w: read %s: %w", ErrBadHtpasswd, path, err)
	}
	if int64(len(data)) > limits.MaxHtpasswdBytes {
		return fmt.Errorf("%w: %s is larger than %d bytes", ErrBadHtpasswd, path, limits.MaxHtpasswdBytes)
	}
	users := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		t := strings.TrimSpace(sc.Text())
		if t == "" || t[0] == '#' {
			continue
		}
		user, hash, ok := strings.Cut(t, ":")
		if !ok || user == "" {
			return fmt.Errorf("%w: %s line %d: want USER:BCRYPT-HASH", ErrBadHtpasswd, path, line)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return fmt.Errorf("%w: %s line %d: user %q: the hash is not bcrypt (make entries with `htpasswd -B`): %w", ErrBadHtpasswd, path, line, user, err)
		}
		users++
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: read %s: %w", ErrBadHtpasswd, path, err)
	}
	if users == 0 {
		return fmt.Errorf("%w: %s holds no user", ErrBadHtpasswd, path)
	}
	return nil
}

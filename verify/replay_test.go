package verify

import (
	"context"
	"crypto"
	"errors"
	"strings"
	"testing"

	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/internal/registrytest"
)

// TestAttackCrossRepositoryReplay signs an artifact for team-a/app with an
// organisation-wide key and copies it, with its signature, into
// team-b/app, as anyone who can push to team-b can. Without a binding the
// copy verifies there (the signature is valid); with Repositories bound to
// team-b it is refused as a policy violation, while a binding to the
// canonical team-a repository still verifies the copy, as it must for
// mirrors.
func TestAttackCrossRepositoryReplay(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t)
	repo := func(name string) *remote.Repository {
		r, err := remote.NewRepository(reg.Repo(name))
		if err != nil {
			t.Fatal(err)
		}
		r.PlainHTTP = true
		return r
	}
	teamA, teamB := repo("team-a/app"), repo("team-b/app")
	fa := &fixture{t: t, repo: teamA, name: reg.Repo("team-a/app")}
	subject := fa.subject("v1")
	orgKey := newKey(t)
	fa.sign(subject, orgKey)

	for _, ref := range []string{"v1", cosignfmt.LegacySignatureTag(subject.Digest)} {
		if _, err := oras.Copy(ctx, teamA, ref, teamB, ref, oras.DefaultCopyOptions); err != nil {
			t.Fatalf("copy %s to team-b: %v", ref, err)
		}
	}
	keys := []crypto.PublicKey{orgKey.Public()}
	for _, tt := range []verdictCase{
		{name: "no binding: the replay verifies (opt-in)", subject: subject,
			policy: Policy{Keys: keys}, wantSigners: []string{cosignfmt.Fingerprint(orgKey.Public())}},
		{name: "bound to team-b: refused", subject: subject,
			policy:  Policy{Keys: keys, Repositories: []string{reg.Repo("team-b/app")}},
			wantErr: errdef.ErrPolicyViolation, wantInMsg: problemOtherRepository},
		{name: "bound to the canonical team-a: a mirror verifies", subject: subject,
			policy:      Policy{Keys: keys, Repositories: []string{reg.Repo("team-b/app"), reg.Repo("team-a/app")}},
			wantSigners: []string{cosignfmt.Fingerprint(orgKey.Public())}},
		{name: "bound by a reference with scheme and tag", subject: subject,
			policy:      Policy{Keys: keys, Repositories: []string{"oci://" + reg.Repo("team-a/app") + ":v1"}},
			wantSigners: []string{cosignfmt.Fingerprint(orgKey.Public())}},
	} {
		tt.run(t, teamB)
	}
	_, err := Verify(ctx, teamB, subject, Policy{Keys: keys, Repositories: []string{reg.Repo("team-b/app")}})
	if !errors.Is(err, errdef.ErrSignatureInvalid) {
		t.Errorf("a replay refused by the binding: %v, want ErrSignatureInvalid as well", err)
	}

	// A bundle names no repository (sealift's bundles carry none): under a
	// binding it cannot count, since nothing ties it to one.
	bundleKey := newKey(t)
	if _, err := cosignfmt.SignBundle(ctx, teamB, subject, bundleKey); err != nil {
		t.Fatal(err)
	}
	bkeys := []crypto.PublicKey{bundleKey.Public()}
	verdictCase{name: "bundle without a claim, bound", subject: subject,
		policy:  Policy{Keys: bkeys, Repositories: []string{reg.Repo("team-b/app")}},
		wantErr: errdef.ErrPolicyViolation, wantInMsg: problemNoRepository}.run(t, teamB)
	verdictCase{name: "bundle without a claim, not bound", subject: subject,
		policy: Policy{Keys: bkeys}, wantSigners: []string{cosignfmt.Fingerprint(bundleKey.Public())}}.run(t, teamB)
}

// TestPolicyRepositories checks that the binding is part of the policy's
// hash (in any order, duplicates and spellings aside) and that a
// repository that is not host/path is refused.
func TestPolicyRepositories(t *testing.T) {
	keys := []crypto.PublicKey{newKey(t).Public()}
	unbound := Policy{Keys: keys}.Hash()
	a := Policy{Keys: keys, Repositories: []string{"reg.example/team-a/app", "reg.example/team-b/app"}}.Hash()
	b := Policy{Keys: keys, Repositories: []string{"oci://REG.example/team-b/app:v1", "reg.example/team-a/app", "reg.example/team-a/app@sha256:0"}}.Hash()
	if a == unbound {
		t.Error("binding repositories does not change the policy hash")
	}
	if a != b {
		t.Error("the same repositories listed differently hash differently")
	}
	if c := (Policy{Keys: keys, Repositories: []string{"reg.example/team-a/app"}}).Hash(); c == a {
		t.Error("a narrower binding hashes like a wider one")
	}
	for _, bad := range []string{"app", "reg.example/", "/team/app"} {
		_, err := Policy{Keys: keys, Repositories: []string{bad}}.normalize()
		if !errors.Is(err, errdef.ErrPolicyViolation) || !strings.Contains(err.Error(), "host/path") {
			t.Errorf("repository %q: %v, want ErrPolicyViolation", bad, err)
		}
	}
}

package controller

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sealiftv1 "github.com/sealift-dev/sealift/api/v1alpha1"
	"github.com/sealift-dev/sealift/cache"
	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/pull"
	"github.com/sealift-dev/sealift/push"
)

// TestControllerRegistryOutageAndRestart: with the registry gone the Sync
// stays Ready on its cached revision, says why, records a SourceUnavailable
// warning and still takes back a hand edit; a new controller process on
// the same cache directory, the registry still gone, re-applies from the
// cache.
func TestControllerRegistryOutageAndRestart(t *testing.T) {
	ctx := context.Background()
	c := setup(t)
	const ns, appNS = "ctl-outage", "ctl-outage-app"
	createNamespace(t, ns)
	reg := registrytest.Start(t)
	key := newKeyPair(t)
	desc := publish(t, reg, "apps/outage", "stable", app(t, appNS, "as shipped"), time.Time{}, key)
	cacheDir := t.TempDir()
	first := startController(t, ns, func(o *Options) { o.CacheDir = cacheDir })
	s := newSync(ns, "outage", "oci://"+reg.Repo("apps/outage"), "stable", 2*time.Second, key)
	s.Spec.Drift = sealiftv1.DriftCorrect
	if err := c.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	waitReady(t, ns, "outage", desc.Digest.String())

	reg.Close()
	eventually(t, 60*time.Second, "Ready naming the unavailable source", func() (bool, string) {
		ready := apimeta.FindStatusCondition(getSync(t, ns, "outage").Status.Conditions, sealiftv1.ConditionReady)
		return ready != nil && ready.Status == metav1.ConditionTrue && strings.Contains(ready.Message, "unavailable") &&
			strings.Contains(ready.Message, desc.Digest.String()), fmt.Sprintf("%+v", ready)
	})
	eventually(t, 10*time.Second, "a SourceUnavailable event", func() (bool, string) {
		got := events(t, ns, "outage")
		return count(got, sealiftv1.ReasonSourceUnavailable) >= 1, fmt.Sprint(got)
	})
	editConfigMap(t, appNS, "edited during the outage")
	eventually(t, driftWait, "the edit taken back from the cache", func() (bool, string) {
		msg, ok := configMessage(t, appNS)
		return ok && msg == "as shipped", fmt.Sprintf("message %q, exists %v", msg, ok)
	})

	// A restart: the first controller goes, the cache directory stays.
	first.stop()
	if err := c.Delete(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: appNS, Name: "app-config"}}); err != nil {
		t.Fatal(err)
	}
	startController(t, ns, func(o *Options) { o.CacheDir = cacheDir })
	eventually(t, 60*time.Second, "the deleted ConfigMap re-applied by the new process from the cache", func() (bool, string) {
		msg, ok := configMessage(t, appNS)
		return ok && msg == "as shipped", fmt.Sprintf("message %q, exists %v", msg, ok)
	})
	if got := getSync(t, ns, "outage").Status.LastAppliedDigest; got != desc.Digest.String() {
		t.Errorf("lastAppliedDigest %s after the restart, want %s", got, desc.Digest)
	}
}

// TestControllerRegistrySecrets: a registry behind TLS with a private CA
// and htpasswd is reached with source.certSecretRef and source.secretRef
// from the Sync's namespace; without the credentials it is not.
func TestControllerRegistrySecrets(t *testing.T) {
	ctx := context.Background()
	c := setup(t)
	const ns, appNS = "ctl-regsecrets", "ctl-regsecrets-app"
	createNamespace(t, ns)
	reg := registrytest.StartWith(t, registrytest.Options{TLS: true, Users: map[string]string{"robot": "s3cret"}})
	ca, err := os.ReadFile(reg.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	key := newKeyPair(t)
	// Push and sign as CI does, with the credentials and the CA.
	ref, err := pull.ParseReference(reg.URL("apps/private", "1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	repo, err := pull.NewRepository(ref, pull.RemoteOptions{CAFile: reg.CAFile, Username: "robot", Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	desc, err := push.Push(ctx, app(t, appNS, "private"), repo, ref.Tag, push.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cosignfmt.SignLegacy(ctx, repo, desc, ref.Repo(), key.Signer); err != nil {
		t.Fatal(err)
	}
	startController(t, ns)

	s := newSync(ns, "private", "oci://"+reg.Repo("apps/private"), "1.0.0", time.Hour, key)
	s.Spec.Source.Insecure = false
	s.Spec.RetryInterval = &metav1.Duration{Duration: time.Second}
	s.Spec.Source.CertSecretRef = &sealiftv1.LocalObjectReference{Name: "registry-ca"}
	s.Spec.Source.SecretRef = &sealiftv1.LocalObjectReference{Name: "registry-auth"}
	caSecret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "registry-ca", Namespace: ns}, Data: map[string][]byte{"ca.crt": ca}}
	if err := c.Create(ctx, caSecret); err != nil {
		t.Fatal(err)
	}
	// Wrong password first: refused by the registry, reported, not stalled.
	auth := func(pass string) map[string][]byte {
		cred := base64.StdEncoding.EncodeToString([]byte("robot:" + pass))
		return map[string][]byte{corev1.DockerConfigJsonKey: fmt.Appendf(nil, `{"auths":{%q:{"auth":%q}}}`, reg.Host, cred)}
	}
	authSecret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "registry-auth", Namespace: ns},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       auth("wrong"),
	}
	if err := c.Create(ctx, authSecret); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the refused credentials reported", func() (bool, string) {
		got := getSync(t, ns, "private")
		ready := apimeta.FindStatusCondition(got.Status.Conditions, sealiftv1.ConditionReady)
		return ready != nil && ready.Status == metav1.ConditionFalse && strings.Contains(strings.ToLower(ready.Message), "unauthorized"), fmt.Sprintf("%+v", ready)
	})
	if apimeta.IsStatusConditionTrue(getSync(t, ns, "private").Status.Conditions, sealiftv1.ConditionStalled) {
		t.Error("refused credentials stalled the Sync; fixing the Secret must be enough")
	}
	if _, ok := configMessage(t, appNS); ok {
		t.Error("applied without credentials")
	}
	// The right password in the same Secret: picked up without a restart.
	authSecret.Data = auth("s3cret")
	if err := c.Update(ctx, authSecret); err != nil {
		t.Fatal(err)
	}
	waitReady(t, ns, "private", desc.Digest.String())
	if msg, _ := configMessage(t, appNS); msg != "private" {
		t.Errorf("message %q, want private", msg)
	}
	for _, e := range eventObjects(t, ns, "private") {
		if strings.Contains(e.Note, "s3cret") || strings.Contains(e.Note, "wrong") {
			t.Errorf("event %s carries the password: %s", e.Reason, e.Note)
		}
	}
}

// TestControllerSharding: two controllers with disjoint label selectors
// reconcile disjoint Syncs; each applies only its own shard's, into its own
// cache.
func TestControllerSharding(t *testing.T) {
	ctx := context.Background()
	c := setup(t)
	const ns = "ctl-shard"
	createNamespace(t, ns)
	reg := registrytest.Start(t)
	key := newKeyPair(t)
	dirs := map[string]string{}
	digests := map[string]string{}
	running := map[string]*running{}
	for _, shard := range []string{"a", "b"} {
		d := publish(t, reg, "apps/shard-"+shard, "1.0.0", app(t, "ctl-shard-"+shard, "shard "+shard), time.Time{}, key)
		digests[shard] = d.Digest.String()
		dirs[shard] = t.TempDir()
		running[shard] = startController(t, ns, func(o *Options) {
			o.CacheDir = dirs[shard]
			o.WatchLabelSelector = "sealift.dev/shard=" + shard
		})
	}
	for _, shard := range []string{"a", "b"} {
		s := newSync(ns, "app-"+shard, "oci://"+reg.Repo("apps/shard-"+shard), "1.0.0", time.Hour, key)
		s.Labels = map[string]string{"sealift.dev/shard": shard}
		if err := c.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	// A Sync neither shard selects stays untouched.
	orphan := newSync(ns, "app-none", "oci://"+reg.Repo("apps/shard-a"), "1.0.0", time.Hour, key)
	if err := c.Create(ctx, orphan); err != nil {
		t.Fatal(err)
	}
	for _, shard := range []string{"a", "b"} {
		waitReady(t, ns, "app-"+shard, digests[shard])
	}
	if st := getSync(t, ns, "app-none").Status; len(st.Conditions) != 0 || st.LastAppliedDigest != "" {
		t.Errorf("a Sync outside both shards was reconciled: %+v", st)
	}
	for _, shard := range []string{"a", "b"} {
		running[shard].stop()
		cc, err := cache.Open(ctx, dirs[shard], cache.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, other := range []string{"a", "b"} {
			_, ok, err := cc.LastApplied(ctx, ns+"/app-"+other)
			if err != nil {
				t.Fatal(err)
			}
			if ok != (other == shard) {
				t.Errorf("shard %s's cache holds Sync app-%s: %v", shard, other, ok)
			}
		}
		_ = cc.Close()
	}
}

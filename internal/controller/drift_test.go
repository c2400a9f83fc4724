package controller

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	sealiftv1 "github.com/sealift-dev/sealift/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/sealift-dev/sealift/deploy"
	"github.com/sealift-dev/sealift/internal/registrytest"
)

// driftWait is how soon a hand edit must be seen: far below the Syncs'
// one-hour interval, so only the watch can make it.
const driftWait = 10 * time.Second

// editConfigMap sets app-config's message by hand, as kubectl edit would.
func editConfigMap(t *testing.T, ns, message string) {
	t.Helper()
	ctx := context.Background()
	c := setup(t)
	var cm corev1.ConfigMap
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "app-config"}, &cm); err != nil {
		t.Fatal(err)
	}
	cm.Data["message"] = message
	if err := c.Update(ctx, &cm); err != nil {
		t.Fatalf("edit app-config: %v", err)
	}
}

// TestControllerCorrectsDriftBeforeTheInterval: with drift: correct and an
// interval of an hour, an applied ConfigMap edited by hand is put back, and
// one deleted by hand is recreated, within seconds.
func TestControllerCorrectsDriftBeforeTheInterval(t *testing.T) {
	ctx := context.Background()
	c := setup(t)
	const ns, appNS = "ctl-drift-correct", "ctl-drift-correct-app"
	createNamespace(t, ns)
	reg := registrytest.Start(t)
	key := newKeyPair(t)
	desc := publish(t, reg, "apps/drift-correct", "1.0.0", app(t, appNS, "as shipped"), time.Time{}, key)
	run := startController(t, ns)
	s := newSync(ns, "drift", "oci://"+reg.Repo("apps/drift-correct"), "1.0.0", time.Hour, key)
	s.Spec.Drift = sealiftv1.DriftCorrect
	if err := c.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	waitReady(t, ns, "drift", desc.Digest.String())

	editConfigMap(t, appNS, "edited by hand")
	eventually(t, driftWait, "the edit put back", func() (bool, string) {
		msg, ok := configMessage(t, appNS)
		return ok && msg == "as shipped", fmt.Sprintf("message %q, exists %v", msg, ok)
	})

	if err := c.Delete(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: appNS, Name: "app-config"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, driftWait, "the deleted ConfigMap recreated", func() (bool, string) {
		msg, ok := configMessage(t, appNS)
		return ok && msg == "as shipped", fmt.Sprintf("message %q, exists %v", msg, ok)
	})
	// One edit, one deletion: two objects taken back, none reported as
	// detected. The metrics are recorded once the reconcile has written
	// the status, a moment after the object is back.
	labels := `{name="drift",namespace="ctl-drift-correct"}`
	eventually(t, driftWait, "sealift_drift_corrected_total 2", func() (bool, string) {
		v, ok := scrape(t, run.metricsAddr, "sealift_drift_corrected_total"+labels)
		return ok && v == "2", fmt.Sprintf("%q (found %v)", v, ok)
	})
	if v, ok := scrape(t, run.metricsAddr, "sealift_drift_detected_total"+labels); ok {
		t.Errorf("sealift_drift_detected_total = %q with drift: correct, want no series", v)
	}
}

// TestControllerDetectsDriftBeforeTheInterval: with drift: detect and an
// interval of an hour, a hand edit is reported in the Ready message and in
// one Drifted event within seconds, and left in place.
func TestControllerDetectsDriftBeforeTheInterval(t *testing.T) {
	ctx := context.Background()
	c := setup(t)
	const ns, appNS = "ctl-drift-detect", "ctl-drift-detect-app"
	createNamespace(t, ns)
	reg := registrytest.Start(t)
	key := newKeyPair(t)
	desc := publish(t, reg, "apps/drift-detect", "1.0.0", app(t, appNS, "as shipped"), time.Time{}, key)
	run := startController(t, ns)
	s := newSync(ns, "drift", "oci://"+reg.Repo("apps/drift-detect"), "1.0.0", time.Hour, key)
	s.Spec.Drift = sealiftv1.DriftDetect
	if err := c.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	waitReady(t, ns, "drift", desc.Digest.String())

	editConfigMap(t, appNS, "edited by hand")
	want := "ConfigMap/" + appNS + "/app-config"
	eventually(t, driftWait, "the edit reported", func() (bool, string) {
		ready := apimeta.FindStatusCondition(getSync(t, ns, "drift").Status.Conditions, sealiftv1.ConditionReady)
		return ready != nil && strings.Contains(ready.Message, "drifted") && strings.Contains(ready.Message, want), fmt.Sprintf("%+v", ready)
	})
	eventually(t, driftWait, "a Drifted event", func() (bool, string) {
		reasons := events(t, ns, "drift")
		return count(reasons, ReasonDrifted) == 1, fmt.Sprint(reasons)
	})
	// Another look (an annotation forces one) reports the same drift
	// without a second event, and the edit stays.
	patchSync(t, getSync(t, ns, "drift"), func(s *sealiftv1.Sync) {
		s.Annotations = map[string]string{RequestedAtAnnotation: "again"}
	})
	eventually(t, driftWait, "the requested reconcile handled", func() (bool, string) {
		got := getSync(t, ns, "drift").Status.LastHandledReconcileAt
		return got == "again", got
	})
	if msg, _ := configMessage(t, appNS); msg != "edited by hand" {
		t.Errorf("message %q with drift: detect, want the hand edit kept", msg)
	}
	if got := count(events(t, ns, "drift"), ReasonDrifted); got != 1 {
		t.Errorf("%d Drifted events for one unchanged drift, want 1", got)
	}
	// Two looks at one drifted object: counted at each look.
	labels := `{name="drift",namespace="ctl-drift-detect"}`
	if v, ok := scrape(t, run.metricsAddr, "sealift_drift_detected_total"+labels); !ok || v != "2" {
		t.Errorf("sealift_drift_detected_total = %q (found %v), want 2", v, ok)
	}
	if v, ok := scrape(t, run.metricsAddr, "sealift_drift_corrected_total"+labels); ok {
		t.Errorf("sealift_drift_corrected_total = %q with drift: detect, want no series", v)
	}
}

// TestDriftWatchEnqueues: which object events reach which Sync.
func TestDriftWatchEnqueues(t *testing.T) {
	cm := schema.GroupKind{Kind: "ConfigMap"}
	deployment := schema.GroupKind{Group: "apps", Kind: "Deployment"}
	obj := func(ns, name string, gen int64, rv string, labels map[string]string) *metav1.PartialObjectMetadata {
		return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Generation: gen, ResourceVersion: rv, Labels: labels}}
	}
	owned := map[string]string{deploy.LabelSyncName: "app", deploy.LabelSyncNamespace: "team"}
	relabelled := map[string]string{deploy.LabelSyncName: "app", deploy.LabelSyncNamespace: "team", "x": "y"}

	t.Run("owner", func(t *testing.T) {
		tests := map[string]struct {
			gk   schema.GroupKind
			obj  *metav1.PartialObjectMetadata
			want string // namespace/name, or "" for none
		}{
			"applied ConfigMap":        {cm, obj("app-ns", "config", 0, "1", owned), "team/app"},
			"applied Deployment":       {deployment, obj("app-ns", "web", 1, "1", owned), "team/app"},
			"the Sync's own inventory": {cm, obj("team", deploy.InventoryName("app"), 0, "1", owned), ""},
			"no ownership labels":      {cm, obj("app-ns", "config", 0, "1", nil), ""},
			"no owner namespace":       {cm, obj("app-ns", "config", 0, "1", map[string]string{deploy.LabelSyncName: "app"}), ""},
		}
		for name, tc := range tests {
			t.Run(name, func(t *testing.T) {
				req, ok := ownerRequest(tc.gk, tc.obj)
				got := ""
				if ok {
					got = req.String()
				}
				if got != tc.want {
					t.Errorf("owner %q, want %q", got, tc.want)
				}
			})
		}
	})

	t.Run("update", func(t *testing.T) {
		tests := map[string]struct {
			old, new *metav1.PartialObjectMetadata
			want     bool
		}{
			"ConfigMap data edited":     {obj("a", "c", 0, "1", owned), obj("a", "c", 0, "2", owned), true},
			"resync":                    {obj("a", "c", 0, "1", owned), obj("a", "c", 0, "1", owned), false},
			"Deployment spec edited":    {obj("a", "d", 1, "1", owned), obj("a", "d", 2, "2", owned), true},
			"Deployment status written": {obj("a", "d", 2, "1", owned), obj("a", "d", 2, "2", owned), false},
			"Deployment labels edited":  {obj("a", "d", 2, "1", owned), obj("a", "d", 2, "2", relabelled), true},
		}
		for name, tc := range tests {
			t.Run(name, func(t *testing.T) {
				got := driftPredicate{}.Update(event.TypedUpdateEvent[*metav1.PartialObjectMetadata]{ObjectOld: tc.old, ObjectNew: tc.new})
				if got != tc.want {
					t.Errorf("update passes %v, want %v", got, tc.want)
				}
			})
		}
	})

	t.Run("create", func(t *testing.T) {
		o := obj("a", "c", 0, "1", owned)
		if (driftPredicate{}).Create(event.TypedCreateEvent[*metav1.PartialObjectMetadata]{Object: o}) {
			t.Error("a creation after the first list (the Sync's own apply) passes")
		}
		if !(driftPredicate{}).Create(event.TypedCreateEvent[*metav1.PartialObjectMetadata]{Object: o, IsInInitialList: true}) {
			t.Error("a creation of the first list does not pass: an edit made before the watch started would wait for the interval")
		}
	})
}

package main

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	sealiftv1 "github.com/sealift-dev/sealift/api/v1alpha1"
	"github.com/sealift-dev/sealift/errdef"
)

// TestGetSyncs: the table shows the columns of the CRD's printer columns
// (revision shortened, signer, Ready's message), -A adds the namespace,
// -o json and -o yaml print the objects, and a missing Sync or an empty
// namespace is said plainly.
func TestGetSyncs(t *testing.T) {
	withCRD(t)
	const nsA, nsB = "ops-get-a", "ops-get-b"
	makeNamespace(t, nsA)
	makeNamespace(t, nsB)
	for _, c := range []struct{ ns, name string }{{nsA, "ready"}, {nsA, "stalled"}, {nsB, "fresh"}} {
		if out, err := run(t, "create", "sync", c.name, "--kubeconfig", kubeEnv.Kubeconfig, "-n", c.ns,
			"--url", "oci://registry.example.com/apps/"+c.name, "--tag", "1.0.0", "--key-secret", "cosign-pub"); err != nil {
			t.Fatalf("create %s: %v\n%s", c.name, err, out)
		}
	}
	digest := "sha256:" + strings.Repeat("0123456789abcdef", 4)
	now := metav1.NewTime(time.Now())
	writeStatus(t, nsA, "ready", sealiftv1.SyncStatus{
		Conditions: []metav1.Condition{{Type: sealiftv1.ConditionReady, Status: metav1.ConditionTrue, Reason: sealiftv1.ReasonApplied,
			Message: "applied " + digest + " (2 objects)", LastTransitionTime: now}},
		LastAppliedDigest: digest, LastAppliedRevision: "1.0.0@" + digest,
		VerifiedBy: []string{"sha256:signer-one", "sha256:signer-two"},
	})
	writeStatus(t, nsA, "stalled", sealiftv1.SyncStatus{
		Conditions: []metav1.Condition{
			{Type: sealiftv1.ConditionReady, Status: metav1.ConditionFalse, Reason: sealiftv1.ReasonVerificationFailed,
				Message: "no signature\nfor the digest", LastTransitionTime: now},
			{Type: sealiftv1.ConditionStalled, Status: metav1.ConditionTrue, Reason: sealiftv1.ReasonVerificationFailed,
				Message: "no signature", LastTransitionTime: now},
		},
	})

	get := func(args ...string) (string, error) {
		return runCLI(t, append([]string{"get", "syncs", "--kubeconfig", kubeEnv.Kubeconfig}, args...)...)
	}
	out, err := get("-n", nsA)
	if err != nil {
		t.Fatalf("get syncs: %v\n%s", err, out)
	}
	rows := tableRows(out)
	if len(rows) != 3 {
		t.Fatalf("want a header and 2 rows:\n%s", out)
	}
	if got := strings.Join(rows[0], "|"); got != "NAME|READY|REVISION|SIGNER|AGE|MESSAGE" {
		t.Errorf("header = %s", got)
	}
	ready := rows[1]
	if ready[0] != "ready" || ready[1] != "True" || ready[2] != "1.0.0@sha256:0123456789ab" || ready[3] != "sha256:signer-one +1" ||
		!strings.HasPrefix(ready[5], "applied "+digest+" (2 objects)") {
		t.Errorf("Ready row = %q", ready)
	}
	stalled := rows[2]
	if stalled[0] != "stalled" || stalled[1] != "False" || stalled[2] != "" || stalled[5] != "no signature for the digest" {
		t.Errorf("Stalled row = %q (the message is kept on one line)", stalled)
	}

	// A suspended Sync says so before Ready's message.
	if out, err := run(t, "suspend", "sync", "ready", "--kubeconfig", kubeEnv.Kubeconfig, "-n", nsA); err != nil {
		t.Fatalf("suspend: %v\n%s", err, out)
	}
	out, err = get("ready", "-n", nsA)
	if err != nil {
		t.Fatal(err)
	}
	if rows := tableRows(out); len(rows) != 2 || rows[1][5] != "suspended (spec.suspend: true); applied "+digest+" (2 objects)" {
		t.Errorf("suspended Sync:\n%s", out)
	}

	// -A: every namespace, with a NAMESPACE column; a Sync never
	// reconciled is Unknown.
	out, err = get("-A")
	if err != nil {
		t.Fatal(err)
	}
	rows = tableRows(out)
	if rows[0][0] != "NAMESPACE" || rows[0][1] != "NAME" {
		t.Errorf("-A header = %q", rows[0])
	}
	var fresh []string
	for _, r := range rows[1:] {
		if r[0] == nsB && r[1] == "fresh" {
			fresh = r
		}
	}
	if fresh == nil || fresh[2] != "Unknown" {
		t.Errorf("-A lacks %s/fresh as Unknown:\n%s", nsB, out)
	}

	// -o json: a SyncList of the objects, without managedFields.
	out, err = get("-n", nsA, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		APIVersion string           `json:"apiVersion"`
		Kind       string           `json:"kind"`
		Items      []sealiftv1.Sync `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("-o json: %v\n%s", err, out)
	}
	if list.APIVersion != sealiftv1.APIVersion || list.Kind != "SyncList" || len(list.Items) != 2 {
		t.Fatalf("-o json: %s %s with %d items", list.APIVersion, list.Kind, len(list.Items))
	}
	if it := list.Items[0]; it.Name != "ready" || it.Status.LastAppliedRevision != "1.0.0@"+digest || it.Spec.Source.Ref.Tag != "1.0.0" || it.ManagedFields != nil {
		t.Errorf("-o json item = %+v", it)
	}

	// -o yaml of one Sync: the object itself, which Parse-able fields
	// round-trip.
	out, err = get("stalled", "-n", nsA, "-o", "yaml")
	if err != nil {
		t.Fatal(err)
	}
	var one sealiftv1.Sync
	if err := yaml.Unmarshal([]byte(out), &one); err != nil || one.Kind != sealiftv1.Kind || one.Name != "stalled" || len(one.Status.Conditions) != 2 {
		t.Errorf("-o yaml of one Sync: %v\n%s", err, out)
	}

	// A missing Sync, and a namespace without Syncs.
	_, err = get("nope", "-n", nsA)
	if !errors.Is(err, errdef.ErrNotFound) || err.Error() != `Sync "nope" not found in namespace "ops-get-a": not found` {
		t.Errorf("missing Sync: err = %v", err)
	}
	all, err := run(t, "get", "syncs", "--kubeconfig", kubeEnv.Kubeconfig, "-n", "ops-get-empty")
	if err != nil || strings.TrimSpace(all) != "no Syncs found in namespace ops-get-empty" {
		t.Errorf("empty namespace: %v\n%s", err, all)
	}
}

// tableRows splits a table printed with columns three or more spaces
// apart (tabwriter's padding) into cells; empty cells stay empty.
func tableRows(out string) [][]string {
	var rows [][]string
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 0 {
		return nil
	}
	// Column starts are where the header's words start.
	header := lines[0]
	var starts []int
	for i := range header {
		if header[i] != ' ' && (i == 0 || (i >= 2 && header[i-1] == ' ' && header[i-2] == ' ')) {
			starts = append(starts, i)
		}
	}
	for _, line := range lines {
		r := []rune(line) // the tick and box characters are multi-byte
		cells := make([]string, len(starts))
		for j, s := range starts {
			end := len(r)
			if j+1 < len(starts) && starts[j+1] < end {
				end = starts[j+1]
			}
			if s < len(r) {
				cells[j] = strings.TrimSpace(string(r[s:end]))
			}
		}
		rows = append(rows, cells)
	}
	return rows
}

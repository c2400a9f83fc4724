package v1alpha1_test

import (
	"fmt"

	sealiftv1 "github.com/sealift-dev/sealift/api/v1alpha1"
)

// A Sync is the same YAML as a file for `sealift sync --once` and as a
// custom resource; Parse validates it, names the field at fault, and
// fills in the defaults.
func ExampleParse() {
	s, err := sealiftv1.Parse([]byte(`
apiVersion: sealift.dev/v1alpha1
kind: Sync
metadata: {name: podinfo, namespace: apps}
spec:
  source:
    url: oci://registry.example.com/apps/podinfo
    ref: {semver: ">=1.4.0 <2.0.0"}
    mirrors:
      - url: oci://mirror.internal:5000/apps/podinfo
  verify:
    keys:
      - path: ./cosign.pub
  prune: true
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Key(), s.Spec.Source.Ref.Semver, len(s.Spec.Source.Mirrors))
	fmt.Println(s.Spec.Verify.Mode, s.Spec.Drift, s.Spec.Timeout.Duration)

	_, err = sealiftv1.Parse([]byte(`
apiVersion: sealift.dev/v1alpha1
kind: Sync
metadata: {name: podinfo}
spec:
  source: {url: oci://registry.example.com/apps/podinfo}
  verify: {mode: sometimes}
`))
	fmt.Println(err)
	// Output:
	// apps/podinfo >=1.4.0 <2.0.0 1
	// enforce correct 5m0s
	// Sync "podinfo": spec.verify.mode: must be enforce or audit, got "sometimes": invalid object
}

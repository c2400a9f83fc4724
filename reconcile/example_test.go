package reconcile_test

import (
	"fmt"

	"github.com/sealift-dev/sealift/reconcile"
)

// A Sync is the same YAML as a file for `sealift sync --once` and as a
// custom resource; Parse validates it and names the field at fault.
func ExampleParse() {
	s, err := reconcile.Parse([]byte(`
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

	_, err = reconcile.Parse([]byte(`
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
	// Sync "podinfo": spec.verify.mode: must be enforce or audit, got "sometimes": invalid object
}

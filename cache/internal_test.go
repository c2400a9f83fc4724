package cache

import "testing"

func TestRepositoryOf(t *testing.T) {
	tests := map[string]string{
		"registry.test/apps/app:v1":             "registry.test/apps/app",
		"oci://registry.test:5000/apps/app:1.0": "registry.test:5000/apps/app",
		"registry.test:5000/apps/app":           "registry.test:5000/apps/app",
		"registry.test/app@sha256:abc":          "registry.test/app",
		"registry.test/app:v1@sha256:abc":       "registry.test/app",
		"v1":                                    "",
		"sha256:abc":                            "",
		"":                                      "",
	}
	for ref, want := range tests {
		t.Run(ref, func(t *testing.T) {
			if got := repositoryOf(ref); got != want {
				t.Fatalf("repositoryOf(%q) = %q; want %q", ref, got, want)
			}
		})
	}
}

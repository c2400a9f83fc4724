package kubetest_test

import (
	"context"
	"os"
	"slices"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/sealift-dev/sealift/internal/kubetest"
)

var env *kubetest.Env

func TestMain(m *testing.M) { os.Exit(kubetest.Run(m, &env)) }

func TestConfigAndKubeconfigAreAdmin(t *testing.T) {
	fromFile, err := clientcmd.BuildConfigFromFlags("", env.Kubeconfig)
	if err != nil {
		t.Fatalf("load kubeconfig: %v", err)
	}
	tests := []struct {
		name string
		cfg  *rest.Config
	}{
		{"Config", env.Config},
		{"Kubeconfig", fromFile},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			cs, err := kubernetes.NewForConfig(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			review, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("self subject review: %v", err)
			}
			if u := review.Status.UserInfo; !slices.Contains(u.Groups, "system:masters") {
				t.Errorf("user %q groups %v: want system:masters", u.Username, u.Groups)
			}
			// Creating a cluster-scoped object needs cluster-admin rights.
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "kubetest-"}}
			if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
				t.Fatalf("create namespace: %v", err)
			}
		})
	}
}

func TestAssetsDirHonoursEnv(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(kubetest.AssetsEnv, dir)
	got, err := kubetest.AssetsDir()
	if err != nil || got != dir {
		t.Fatalf("AssetsDir() = %q, %v; want %q", got, err, dir)
	}
}

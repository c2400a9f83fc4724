package controller

import (
	"context"
	"fmt"
	sealiftv1 "github.com/sealift-dev/sealift/api/v1alpha1"
	"os"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/reconcile"
)

// Secret data keys read for a Sync's references, as Flux reads them.
const (
	// Keys ending in .pub of a spec.verify.keys[].secretRef are public keys.
	pubKeySuffix = ".pub"
	// trustedRootKey holds the trusted_root.json of spec.verify.trustedRoot.secretRef.
	trustedRootKey = "trusted_root.json"
	// The TLS material of spec.source.certSecretRef.
	caKey, certKey, keyKey = "ca.crt", "tls.crt", "tls.key"
)

// prepared is a Sync made ready for the pipeline: a copy whose references to
// Secrets are replaced by their content, and the engine to run it with.
type prepared struct {
	sync    *sealiftv1.Sync
	engine  *reconcile.Engine
	cleanup func()
}

// prepare checks what the controller refuses beyond the Sync's own
// validation and resolves the Sync's Secret references (in its own
// namespace) into a working copy. The Sync s is not changed.
func (r *SyncReconciler) prepare(ctx context.Context, s *sealiftv1.Sync, base reconcile.Engine) (*prepared, error) {
	work := s.DeepCopy()
	work.APIVersion, work.Kind = sealiftv1.APIVersion, sealiftv1.Kind
	if err := work.Validate(); err != nil {
		return nil, err
	}
	// Files named by a Sync are the controller's own files: a Sync could
	// point a key or trust root at a service account token or another
	// tenant's mounted secret. In-cluster, keys and trust roots come from
	// Secrets in the Sync's namespace or inline.
	for i, k := range work.Spec.Verify.Keys {
		if k.Path != "" {
			return nil, fmt.Errorf("Sync %s: spec.verify.keys[%d].path names a file on the controller's filesystem; in-cluster use secretRef or pem: %w", s.Key(), i, errdef.ErrInvalidObject)
		}
	}
	if tr := work.Spec.Verify.TrustedRoot; tr != nil && tr.Path != "" {
		return nil, fmt.Errorf("Sync %s: spec.verify.trustedRoot.path names a file on the controller's filesystem; in-cluster use secretRef: %w", s.Key(), errdef.ErrInvalidObject)
	}
	if r.NoCrossNamespaceRefs && work.Spec.TargetNamespace != "" && work.Spec.TargetNamespace != s.Namespace {
		return nil, fmt.Errorf("Sync %s: spec.targetNamespace %q is another namespace, and this controller refuses cross-namespace references: %w", s.Key(), work.Spec.TargetNamespace, errdef.ErrInvalidObject)
	}
	if work.Spec.ServiceAccountName == "" {
		work.Spec.ServiceAccountName = r.DefaultServiceAccount
	}

	p := &prepared{sync: work, engine: &base, cleanup: func() {}}
	var tmp string
	scratch := func() (string, error) {
		if tmp == "" {
			var err error
			if tmp, err = os.MkdirTemp("", "sealift-sync-"); err != nil {
				return "", err
			}
			p.cleanup = func() { _ = os.RemoveAll(tmp) }
		}
		return tmp, nil
	}
	err := r.resolveSecrets(ctx, work, p.engine, scratch)
	if err != nil {
		p.cleanup()
		return nil, err
	}
	return p, nil
}

func (r *SyncReconciler) resolveSecrets(ctx context.Context, work *sealiftv1.Sync, engine *reconcile.Engine, scratch func() (string, error)) error {
	var keys []sealiftv1.Key
	for i, k := range work.Spec.Verify.Keys {
		if k.SecretRef == nil {
			keys = append(keys, k)
			continue
		}
		data, err := r.secret(ctx, work.Namespace, k.SecretRef.Name, fmt.Sprintf("spec.verify.keys[%d].secretRef", i))
		if err != nil {
			return err
		}
		names := make([]string, 0, len(data))
		for name := range data {
			if strings.HasSuffix(name, pubKeySuffix) {
				names = append(names, name)
			}
		}
		if len(names) == 0 {
			return fmt.Errorf("Sync %s: spec.verify.keys[%d]: Secret %s holds no key ending in %s: %w", work.Key(), i, k.SecretRef.Name, pubKeySuffix, errdef.ErrInvalidKey)
		}
		slices.Sort(names)
		for _, name := range names {
			keys = append(keys, sealiftv1.Key{PEM: string(data[name])})
		}
	}
	work.Spec.Verify.Keys = keys

	if tr := work.Spec.Verify.TrustedRoot; tr != nil && tr.SecretRef != nil {
		data, err := r.secret(ctx, work.Namespace, tr.SecretRef.Name, "spec.verify.trustedRoot.secretRef")
		if err != nil {
			return err
		}
		root, ok := data[trustedRootKey]
		if !ok {
			return fmt.Errorf("Sync %s: spec.verify.trustedRoot: Secret %s has no %s: %w", work.Key(), tr.SecretRef.Name, trustedRootKey, errdef.ErrInvalidObject)
		}
		path, err := writeScratch(scratch, trustedRootKey, root)
		if err != nil {
			return err
		}
		work.Spec.Verify.TrustedRoot = &sealiftv1.FileRef{Path: path}
	}

	if ref := work.Spec.Source.SecretRef; ref != nil {
		data, err := r.secret(ctx, work.Namespace, ref.Name, "spec.source.secretRef")
		if err != nil {
			return err
		}
		cfg, ok := data[corev1.DockerConfigJsonKey]
		if !ok {
			return fmt.Errorf("Sync %s: spec.source.secretRef: Secret %s has no %s (want a kubernetes.io/dockerconfigjson Secret): %w", work.Key(), ref.Name, corev1.DockerConfigJsonKey, errdef.ErrInvalidObject)
		}
		// A docker config file keeps each registry's credentials to its
		// own host, mirrors included.
		path, err := writeScratch(scratch, "config.json", cfg)
		if err != nil {
			return err
		}
		engine.Remote.RegistryConfig = path
		engine.Remote.Username, engine.Remote.Password = "", ""
		work.Spec.Source.SecretRef = nil
	}
	if ref := work.Spec.Source.CertSecretRef; ref != nil {
		data, err := r.secret(ctx, work.Namespace, ref.Name, "spec.source.certSecretRef")
		if err != nil {
			return err
		}
		engine.Remote.CAData = data[caKey]
		engine.Remote.CertData, engine.Remote.KeyData = data[certKey], data[keyKey]
		work.Spec.Source.CertSecretRef = nil
	}
	return nil
}

// secret reads a Secret of the Sync's namespace, uncached: the controller
// does not watch every Secret in the cluster.
func (r *SyncReconciler) secret(ctx context.Context, namespace, name, field string) (map[string][]byte, error) {
	var sec corev1.Secret
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &sec); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("%s: Secret %s/%s: %w", field, namespace, name, errdef.ErrNotFound)
		}
		return nil, fmt.Errorf("%s: read Secret %s/%s: %w", field, namespace, name, err)
	}
	return sec.Data, nil
}

func writeScratch(scratch func() (string, error), name string, data []byte) (string, error) {
	dir, err := scratch()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return "", err
	}
	return path, nil
}

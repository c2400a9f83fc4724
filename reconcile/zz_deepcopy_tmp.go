package reconcile

// Hand-written deep copies so that Sync and SyncList are runtime.Objects for
// the controller. Temporary: replaced by controller-gen's output when the
// types move to api/v1alpha1.

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// DeepCopyInto copies in into out.
func (in *Sync) DeepCopyInto(out *Sync) {
	*out = *in
	out.TypeMeta = in.TypeMeta
	in.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	in.Spec.DeepCopyInto(&out.Spec)
	in.Status.DeepCopyInto(&out.Status)
}

// DeepCopy returns a deep copy of in.
func (in *Sync) DeepCopy() *Sync {
	if in == nil {
		return nil
	}
	out := new(Sync)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *Sync) DeepCopyObject() runtime.Object {
	if c := in.DeepCopy(); c != nil {
		return c
	}
	return nil
}

// DeepCopyInto copies in into out.
func (in *SyncList) DeepCopyInto(out *SyncList) {
	*out = *in
	out.TypeMeta = in.TypeMeta
	in.ListMeta.DeepCopyInto(&out.ListMeta)
	if in.Items != nil {
		out.Items = make([]Sync, len(in.Items))
		for i := range in.Items {
			in.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
}

// DeepCopy returns a deep copy of in.
func (in *SyncList) DeepCopy() *SyncList {
	if in == nil {
		return nil
	}
	out := new(SyncList)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *SyncList) DeepCopyObject() runtime.Object {
	if c := in.DeepCopy(); c != nil {
		return c
	}
	return nil
}

// DeepCopyInto copies in into out.
func (in *SyncSpec) DeepCopyInto(out *SyncSpec) {
	*out = *in
	in.Source.DeepCopyInto(&out.Source)
	in.Verify.DeepCopyInto(&out.Verify)
	if in.PruneBudget != nil {
		b := *in.PruneBudget
		out.PruneBudget = &b
	}
	out.Timeout = copyDuration(in.Timeout)
	out.Interval = copyDuration(in.Interval)
	out.RetryInterval = copyDuration(in.RetryInterval)
	if in.DependsOn != nil {
		out.DependsOn = append([]LocalObjectReference(nil), in.DependsOn...)
	}
}

// DeepCopyInto copies in into out.
func (in *Source) DeepCopyInto(out *Source) {
	*out = *in
	if in.Mirrors != nil {
		out.Mirrors = append([]Mirror(nil), in.Mirrors...)
	}
	out.SecretRef = copyRef(in.SecretRef)
	out.CertSecretRef = copyRef(in.CertSecretRef)
}

// DeepCopyInto copies in into out.
func (in *Verify) DeepCopyInto(out *Verify) {
	*out = *in
	if in.Keys != nil {
		out.Keys = make([]Key, len(in.Keys))
		for i, k := range in.Keys {
			out.Keys[i] = k
			out.Keys[i].SecretRef = copyRef(k.SecretRef)
		}
	}
	if in.Identities != nil {
		out.Identities = append([]Identity(nil), in.Identities...)
	}
	if in.TrustedRoot != nil {
		tr := *in.TrustedRoot
		tr.SecretRef = copyRef(in.TrustedRoot.SecretRef)
		out.TrustedRoot = &tr
	}
}

// DeepCopyInto copies in into out.
func (in *SyncStatus) DeepCopyInto(out *SyncStatus) {
	*out = *in
	if in.Conditions != nil {
		out.Conditions = make([]metav1.Condition, len(in.Conditions))
		for i := range in.Conditions {
			in.Conditions[i].DeepCopyInto(&out.Conditions[i])
		}
	}
	if in.VerifiedBy != nil {
		out.VerifiedBy = append([]string(nil), in.VerifiedBy...)
	}
	if in.Inventory != nil {
		inv := *in.Inventory
		if in.Inventory.Entries != nil {
			inv.Entries = append([]string(nil), in.Inventory.Entries...)
		}
		out.Inventory = &inv
	}
	if in.History != nil {
		out.History = make([]HistoryEntry, len(in.History))
		for i := range in.History {
			out.History[i] = in.History[i]
			in.History[i].AppliedAt.DeepCopyInto(&out.History[i].AppliedAt)
		}
	}
}

func copyRef(r *LocalObjectReference) *LocalObjectReference {
	if r == nil {
		return nil
	}
	c := *r
	return &c
}

func copyDuration(d *metav1.Duration) *metav1.Duration {
	if d == nil {
		return nil
	}
	c := *d
	return &c
}

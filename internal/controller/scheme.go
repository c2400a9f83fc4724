package controller

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/sealift-dev/sealift/reconcile"
)

// GroupVersion of the Sync API.
var GroupVersion = schema.GroupVersion{Group: reconcile.Group, Version: reconcile.Version}

// addSyncTypes registers Sync and SyncList. It stands in for the API
// package's AddToScheme until the types move there.
func addSyncTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &reconcile.Sync{}, &reconcile.SyncList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

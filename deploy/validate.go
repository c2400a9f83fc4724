package deploy

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sealift-dev/sealift/internal/object"
)

// The object checks render also runs, shared through internal/object.

type objectKey = object.Key

func validateObject(obj *unstructured.Unstructured) error { return object.Validate(obj) }

func checkDuplicate(seen map[objectKey]string, obj *unstructured.Unstructured, where string) error {
	return object.CheckDuplicate(seen, obj, where)
}

// Command sealift-controller is sealift's in-cluster engine: a
// controller-runtime manager whose one controller reconciles Sync objects
// through the same pipeline as `sealift sync --once` (see
// internal/controller). `sealift controller` runs it.
//
// It is a binary of its own so that controller-runtime's manager,
// Prometheus and zap are neither linked into nor initialised by every
// sealift command.
//
//	sealift-controller [--concurrent N] [--metrics-addr A] [--health-addr A]
//	    [--enable-leader-election] [--watch-namespace NS] [--watch-label-selector S]
//	    [--cache-dir D] [--default-service-account SA] [--no-cross-namespace-refs]
//	    [--log-level debug|info|error] [--log-encoding json|console] [--kubeconfig K]
package main

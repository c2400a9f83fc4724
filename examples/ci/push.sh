#!/usr/bin/env bash
# A CI step: render the manifests, push them as a signed artifact, and record
# the digest for the deploy stage. COSIGN_PASSWORD and the key come from the
# CI's secret store; REGISTRY is the team's registry.
set -euo pipefail

: "${REGISTRY:?set REGISTRY, e.g. registry.example.com/team}"
VERSION="${VERSION:-$(git describe --tags --always)}"

kustomize build deploy/production > rendered/all.yaml   # or any renderer
digest="$(sealift push ./rendered "oci://$REGISTRY/app:$VERSION" \
  --source "$(git config --get remote.origin.url)" \
  --revision "$VERSION@sha1:$(git rev-parse HEAD)" \
  --sign --key cosign.key -o json | jq -r .digest)"
echo "pushed and signed $REGISTRY/app@$digest"

#!/usr/bin/env bash
# A CI job that releases sealift's own images: build them reproducibly (no
# Docker engine), push them, sign each index digest with the project's key,
# check the signature, and print the digest to install by. COSIGN_PASSWORD
# and cosign.key come from the CI's secret store; IMAGE is where the sealift
# image goes (the registry image goes to the same repository with -registry
# appended).
set -euo pipefail

: "${IMAGE:?set IMAGE, e.g. registry.example.com/platform/sealift:v0.3.0}"
repo="${IMAGE%:*}"

# SOURCE_DATE_EPOCH defaults to the commit time, so a rebuild of the same
# commit anywhere gives the same digest; the last line printed is it.
digest="$(make -s image IMAGE="$IMAGE" KEY=cosign.key | tail -n 1)"

make -s build
bin/sealift verify "oci://$repo@$digest" --key cosign.pub
bin/sealift verify "oci://$repo-registry:${IMAGE##*:}" --key cosign.pub

echo "sealift image: $repo@$digest"
echo "install with:  sealift install --image $repo@$digest"

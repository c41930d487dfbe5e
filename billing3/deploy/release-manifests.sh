#!/bin/sh
# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
#
# Renders every realm's manifests for one release image, as the release job attaches them:
#   sh deploy/release-manifests.sh IMAGE TAG DIGEST OUTDIR
# e.g. IMAGE ghcr.io/my-org/billing, TAG v1.2.3, DIGEST sha256:…; OUTDIR gets <realm>.yaml per
# overlay, its image pinned as IMAGE:TAG@DIGEST. Needs only kubectl (its built-in kustomize).
# It applies nothing: a GitOps tool or the team's own pipeline applies the files.
set -eu

if [ "$#" -ne 4 ]; then
    echo "usage: $0 IMAGE TAG DIGEST OUTDIR" >&2
    exit 2
fi
image=$1 tag=$2 digest=$3 out=$4
deploy=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
# Inside deploy/: kustomize takes a relative path to the overlay only.
work=$(mktemp -d "$deploy/.release.XXXXXX")
trap 'rm -rf "$work"' EXIT

for overlay in "$deploy"/overlays/*/; do
    realm=$(basename "$overlay")
    mkdir "$work/$realm"
    cat > "$work/$realm/kustomization.yaml" <<KUSTOMIZATION
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../overlays/$realm
images:
  - name: $image
    newTag: $tag
    digest: $digest
KUSTOMIZATION
    kubectl kustomize "$work/$realm" > "$out/$realm.yaml"
    # An overlay that names another image would ship its old tag: stop the release instead.
    if grep -E '^ *image: ' "$out/$realm.yaml" | grep -v -F "image: $image:$tag@$digest" >&2; then
        echo "deploy/overlays/$realm runs an image other than $image: its release would not." >&2
        exit 1
    fi
    echo "$out/$realm.yaml"
done

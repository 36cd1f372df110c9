"""Validate rendered Kubernetes manifests offline: built-in kinds and the SparkApplication.

Run by ``scripts/deploy_checks.sh`` inside the deploy-checks virtualenv (kubernetes-validate,
jsonschema, PyYAML; requirements/deploy-checks.lock), one rendered ``kubectl kustomize``
output per argument::

    python deploy/checks/validate_manifests.py --kubernetes-version 1.34.0 \\
        --crd ../shared/reference/crds/sparkoperator.k8s.io_sparkapplications.yaml out/*.yaml

Built-in kinds are checked with kubernetes-validate in strict mode (an unknown field is an
error), a ``SparkApplication`` against the ``openAPIV3Schema`` of the operator's CRD, which is
what an API server with the operator installed would do. Any other kind is an error: nothing
in the manifests may escape validation. Exits 1 listing every problem.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml


def crd_schemas(crd_path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """``(apiVersion, kind)`` -> the CRD's openAPIV3Schema, for every served version."""
    crd = yaml.safe_load(crd_path.read_text())
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    return {
        (f"{group}/{version['name']}", kind): version["schema"]["openAPIV3Schema"]
        for version in crd["spec"]["versions"]
        if version.get("served", True)
    }


def problems_of(
    document: dict[str, Any],
    kubernetes_version: str,
    custom: dict[tuple[str, str], dict[str, Any]],
) -> list[str]:
    key = (document.get("apiVersion", ""), document.get("kind", ""))
    if key in custom:
        validator = jsonschema.Draft7Validator(custom[key])
        return [
            f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
            for error in validator.iter_errors(document)
        ]
    try:
        kubernetes_validate.validate(document, kubernetes_version, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{'/'.join(map(str, error.path)) or '<root>'}: {error.message}"]
    except kubernetes_validate.SchemaNotFoundError:
        return [f"no schema for {key[0]} {key[1]}: neither built in nor a known CRD"]
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubernetes-version", required=True)
    parser.add_argument("--crd", type=Path, action="append", default=[])
    parser.add_argument("manifests", type=Path, nargs="+")
    arguments = parser.parse_args(argv)
    custom: dict[tuple[str, str], dict[str, Any]] = {}
    for crd in arguments.crd:
        custom.update(crd_schemas(crd))
    failures = 0
    for path in arguments.manifests:
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
        for document in documents:
            name = f"{document.get('kind')}/{document.get('metadata', {}).get('name')}"
            for problem in problems_of(document, arguments.kubernetes_version, custom):
                failures += 1
                print(f"{path.name}: {name}: {problem}", file=sys.stderr)
        print(f"{path.name}: {len(documents)} objects checked")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

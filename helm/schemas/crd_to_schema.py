"""Turn CustomResourceDefinition YAML into the strict JSON schemas kubeconform reads.

    python helm/schemas/crd_to_schema.py OUT_DIR CRD.yaml...

writes OUT_DIR/<group>/<kind>_<version>.json for every served version, the layout of
kubeconform's `{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json` schema location.
Strict like kubeconform's own: objects with declared properties reject unknown fields
(unless the CRD preserves unknown fields); int-or-string and nullable become JSON Schema.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml


def strict(node: Any) -> Any:
    if isinstance(node, list):
        return [strict(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: strict(v) for k, v in node.items() if not k.startswith("x-kubernetes-") and k != "nullable"}
    if "properties" in node:  # `properties` maps names to schemas: recurse into values only
        out["properties"] = {k: strict(v) for k, v in node["properties"].items()}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["oneOf"] = [{"type": "string"}, {"type": "integer"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if (
        "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def main(out_dir: str, *crds: str) -> None:
    for path in crds:
        for doc in yaml.safe_load_all(Path(path).read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec["versions"]:
                schema = strict(version["schema"]["openAPIV3Schema"])
                target = (
                    Path(out_dir) / spec["group"] / f"{spec['names']['kind'].lower()}_{version['name']}.json"
                )
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
                print(target)


if __name__ == "__main__":
    main(*sys.argv[1:])

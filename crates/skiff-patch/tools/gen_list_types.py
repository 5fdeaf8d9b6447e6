#!/usr/bin/env python3
"""Generate skiff-patch's built-in list/map merge table from k8s-openapi sources.

k8s-openapi's JSON schemas (schemars) do not carry x-kubernetes-list-type,
x-kubernetes-list-map-keys, x-kubernetes-map-type or the strategic-merge-patch
patchMergeKey.  The same information is, however, encoded in the source of its
`DeepMerge` impls:

    crate::merge_strategies::list::map(&mut self.env, other.env,
        &[|lhs, rhs| lhs.name == rhs.name], ...)           -> list map keyed by "name"
    crate::merge_strategies::list::atomic(&mut self.args, ...)  -> atomic list
    crate::merge_strategies::list::set(&mut self.finalizers, ...) -> set
    crate::merge_strategies::map::granular(&mut self.labels, ...) -> granular map
    crate::merge_strategies::map::atomic(&mut self.node_selector, ...) -> atomic map

The Rust field names are mapped to JSON names through each file's Deserialize
impl (`"envFrom" => Field::Key_env_from`) and the owning type to its OpenAPI
definition name through its JsonSchema impl (`"io.k8s.api.core.v1.Container".into()`).

Where a list has an upstream patchMergeKey, k8s-openapi keys the list by that
single field (e.g. Container.ports by containerPort, ServiceSpec.ports by port),
which is the strategic-merge-patch merge key.  Server-side apply list-map keys
that differ from it are corrected by hand in src/schema/overrides.rs.

Usage (from the crate directory):

    python3 tools/gen_list_types.py [path/to/k8s-openapi-0.29.0] > src/builtin_list_types.rs
    python3 tools/gen_list_types.py --roots [path] > src/builtin_roots.rs
"""

import glob
import os
import re
import sys

# Group/version directories (relative to src/v1_33) whose types Skiff serves.
GA_DIRS = [
    "api/admissionregistration/v1",
    "api/apps/v1",
    "api/autoscaling/v1",
    "api/autoscaling/v2",
    "api/batch/v1",
    "api/certificates/v1",
    "api/coordination/v1",
    "api/core/v1",
    "api/discovery/v1",
    "api/events/v1",
    "api/networking/v1",
    "api/node/v1",
    "api/policy/v1",
    "api/rbac/v1",
    "api/scheduling/v1",
    "api/storage/v1",
    "apiextensions_apiserver/pkg/apis/apiextensions/v1",
    "apimachinery/pkg/apis/meta/v1",
]

STRUCT_RE = re.compile(r"^pub struct (\w+)", re.M)
SCHEMA_NAME_RE = re.compile(r'fn schema_name\(\)[^{]*\{\s*"([^"]+)"\.into\(\)')
DESER_FIELD_RE = re.compile(r'"([^"]+)" => Field::Key_(\w+),')
FIELD_DECL_RE = re.compile(r"^\s*pub (\w+): (.+),\s*$", re.M)
RESOURCE_RE = re.compile(r"^impl crate::Resource for (\w+)", re.M)
STMT_RE = re.compile(
    r"crate::merge_strategies::(list|map)::(atomic|set|map|granular)\(\s*&mut self\.(\w+),\s*other\.\w+"
    r"(?:,\s*&\[(.*?)\])?",
    re.S,
)
KEY_RE = re.compile(r"\|lhs, rhs\| lhs\.([\w.]+) == rhs\.[\w.]+")
ITEM_TYPE_RE = re.compile(r"std::vec::Vec<crate::([\w:]+)>")


def find_crate():
    if len(sys.argv) > 1 and not sys.argv[-1].startswith("--"):
        return sys.argv[-1]
    home = os.path.expanduser("~/.cargo/registry/src")
    found = sorted(glob.glob(os.path.join(home, "*", "k8s-openapi-0.29.0")))
    if not found:
        sys.exit("k8s-openapi-0.29.0 not found; pass its path")
    return found[0]


def parse_file(path, module):
    text = open(path, encoding="utf-8").read()
    m = STRUCT_RE.search(text)
    if not m:
        return None
    info = {
        "rust": f"crate::{module}::{m.group(1)}",
        "name": m.group(1),
        "schema": None,
        "json": {},
        "decls": {},
        "strategies": [],
        "resource": bool(RESOURCE_RE.search(text)),
    }
    sm = SCHEMA_NAME_RE.search(text)
    if sm:
        info["schema"] = sm.group(1)
    for json_name, rust in DESER_FIELD_RE.findall(text):
        info["json"][rust] = json_name
    struct_body = text[m.end(): text.find("\n}\n", m.end())]
    for rust, ty in FIELD_DECL_RE.findall(struct_body):
        info["decls"][rust] = ty
    start = text.find("impl crate::DeepMerge for")
    if start >= 0:
        end = text.find("\n}\n", start)
        body = text[start:end]
        for kind, strategy, field, keys in STMT_RE.findall(body):
            info["strategies"].append((kind, strategy, field, KEY_RE.findall(keys or "")))
    return info


def collect(root):
    base = os.path.join(root, "src", "v1_33")
    types = {}
    for d in GA_DIRS:
        module = d.replace("/", "::")
        for path in sorted(glob.glob(os.path.join(base, d, "*.rs"))):
            if path.endswith("mod.rs"):
                continue
            info = parse_file(path, module)
            if info:
                types[info["rust"]] = info
    return types


def rust_str_list(items):
    return "&[" + ", ".join(f'"{i}"' for i in items) + "]"


def gen_table(root, types):
    rows = []
    for info in types.values():
        if not info["schema"]:
            continue
        for kind, strategy, field, keys in info["strategies"]:
            json_field = info["json"].get(field)
            if json_field is None:
                sys.exit(f"{info['rust']}.{field}: no JSON name")
            if kind == "map":
                value = "Strategy::GranularMap" if strategy == "granular" else "Strategy::AtomicMap"
            elif strategy == "atomic":
                value = "Strategy::AtomicList"
            elif strategy == "set":
                value = "Strategy::SetList"
            else:
                item = ITEM_TYPE_RE.search(info["decls"].get(field, ""))
                if not item or f"crate::{item.group(1)}" not in types:
                    sys.exit(f"{info['rust']}.{field}: unknown item type")
                item_info = types[f"crate::{item.group(1)}"]
                if not keys or any("." in k for k in keys):
                    # Keyed by a nested field (StatefulSetSpec.volumeClaimTemplates by
                    # metadata.name): neither SMP nor SSA can express that; upstream
                    # treats the list as atomic.
                    value = "Strategy::AtomicList"
                else:
                    json_keys = [item_info["json"][k] for k in keys]
                    value = f"Strategy::MapList({rust_str_list(json_keys)})"
            rows.append((info["schema"], json_field, value))
    rows.sort()
    out = [
        "//! Built-in list and map merge strategies, generated by `tools/gen_list_types.py`",
        "//! from the `DeepMerge` impls of k8s-openapi 0.29.0 (feature v1_33). Do not edit by hand:",
        "//! rerun `python3 tools/gen_list_types.py > src/builtin_list_types.rs` from the crate dir.",
        "//!",
        "//! Each row is (OpenAPI definition name, JSON field name, strategy). Map-list keys are the",
        "//! upstream patchMergeKey where one exists; see `schema::overrides` for the server-side",
        "//! apply corrections.",
        "",
        "use crate::schema::Strategy;",
        "",
        "/// (definition name, JSON field, strategy), sorted by definition then field.",
        "pub(crate) static FIELD_STRATEGIES: &[(&str, &str, Strategy)] = &[",
    ]
    for schema, field, value in rows:
        out.append(f'    ("{schema}", "{field}", {value}),')
    out.append("];")
    return "\n".join(out) + "\n"


def gen_roots(root, types):
    out = [
        "//! Root kinds of the built-in schema, generated by `tools/gen_list_types.py --roots`",
        "//! from the `crate::Resource` impls of k8s-openapi 0.29.0 (feature v1_33). Do not edit by hand.",
        "",
        "/// Registers every root kind's JSON schema (and, transitively, all it references).",
        "pub(crate) fn register_roots(generator: &mut schemars::SchemaGenerator) {",
    ]
    for rust, info in sorted(types.items()):
        if info["resource"] and info["schema"]:
            path = rust.replace("crate::", "k8s_openapi::", 1)
            out.append(f"    generator.subschema_for::<{path}>();")
    out.append("}")
    return "\n".join(out) + "\n"


def main():
    root = find_crate()
    types = collect(root)
    if "--roots" in sys.argv:
        sys.stdout.write(gen_roots(root, types))
    else:
        sys.stdout.write(gen_table(root, types))


if __name__ == "__main__":
    main()

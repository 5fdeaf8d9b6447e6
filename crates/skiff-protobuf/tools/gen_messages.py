#!/usr/bin/env python3
"""Generate skiff-protobuf's message table (src/messages.rs).

Sources (all read from disk, nothing is fetched):
  * k8s-pb 0.9.0 (prost code generated from Kubernetes' generated.proto files): for every
    message its prost struct name and, per field, `#[prost(<kind>, optional|repeated, tag = "N")]`,
    `btree_map = "string, <kind>"`, the prost field name (heck's snake_case of the proto name)
    and the referenced message type;
  * k8s-openapi 0.29.0 (feature v1_33): each type's OpenAPI definition name (`schema_name`),
    its JSON field names (the Deserialize impl's `"jsonName" => Field::Key_rust_name`) and the
    `Resource` / `ListableResource` impls (apiVersion, kind, list kind);
  * tools/go_fields.tsv (tools/extract_go_fields.py, read out of the Go binaries of kubectl 1.33
    and 1.32 and helm 4.1): per Go struct field its JSON name, `omitempty` and whether it is a
    pointer. That decides which zero values Kubernetes' JSON omits although gogo protobuf always
    writes them (kubectl sends `uid: ""`, `generation: 0`, ...), and gives the JSON name of
    fields whose proto name differs (`uID`) or that Go inlines (`json:",inline"`, which the table
    marks with an empty JSON name).

Matching: a prost message is the OpenAPI definition (or Go struct) of the same package whose
name equals the prost struct name once case and underscores are dropped (prost renames
JSONSchemaProps to JsonSchemaProps). A prost field is the JSON field whose name, in heck's
snake_case, is the prost field name, or failing that equals it without case and underscores
(k8s-pb's `cluster_ips` for clusterIPs); where kubectl's Go struct is known its protobuf tag
numbers give the JSON name directly and the two must agree. Every JSON field of every definition must find its prost field and every Go JSON
name must agree with k8s-openapi's, or the generator fails. Prost fields that neither
k8s-openapi 1.33 nor kubectl 1.32 know (k8s-pb follows a newer Kubernetes) are left out and
listed at the end of the output; so are messages no included message refers to and no source
names.

Usage (from the crate directory):

    python3 tools/gen_messages.py > src/messages.rs
"""

import glob
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def find(name):
    found = sorted(glob.glob(os.path.expanduser(f"~/.cargo/registry/src/*/{name}")))
    if not found:
        sys.exit(f"{name} not found in ~/.cargo/registry/src (run `cargo fetch` in the workspace)")
    return found[0]


# ---------------------------------------------------------------- heck 0.5 word splitting

def heck_words(s):
    """The words of `s` exactly as heck 0.5's `transform` splits them."""
    words = []
    for word in re.split(r"[^0-9A-Za-z]", s):
        init, mode, i = 0, "boundary", 0
        n = len(word)
        while i < n:
            c = word[i]
            if i + 1 < n:
                nxt = word[i + 1]
                next_mode = "lower" if c.islower() else "upper" if c.isupper() else mode
                if next_mode == "lower" and nxt.isupper():
                    words.append(word[init:i + 1])
                    init, mode = i + 1, "boundary"
                elif mode == "upper" and c.isupper() and nxt.islower():
                    words.append(word[init:i])
                    init, mode = i, "boundary"
                else:
                    mode = next_mode
            else:
                words.append(word[init:])
            i += 1
    return [w for w in words if w]


def snake(s):
    return "_".join(w.lower() for w in heck_words(s))


def norm(s):
    """Case and underscores dropped: how names are compared when heck's split and prost's differ
    (k8s-pb has `cluster_ips` for clusterIPs and `CSIPersistentVolumeSource` unconverted)."""
    return re.sub(r"[^a-z0-9]", "", s.lower())


# ---------------------------------------------------------------- k8s-pb

ATTR_FIELD_RE = re.compile(r"#\[prost\((.*?)\)\]\s*pub (?:r#)?(\w+):\s*(.*?),\s*(?=#\[prost|$)", re.S)
REF_RE = re.compile(r"(?<![:\w])((?:super::)*(?:[a-z_0-9]+::)*[A-Z]\w*)")
SCALARS = {"string", "bool", "int32", "int64", "double", "bytes"}


def parse_pb(root):
    messages = {}
    src = os.path.join(root, "src")
    for path in sorted(glob.glob(os.path.join(src, "**", "mod.rs"), recursive=True)):
        module = tuple(os.path.relpath(os.path.dirname(path), src).split(os.sep))
        text = open(path, encoding="utf-8").read()
        for m in re.finditer(r"^pub struct (\w+) \{(?:\}|\n(.*?)^\})", text, re.M | re.S):
            body = "\n".join(l for l in (m.group(2) or "").splitlines() if not l.strip().startswith("//"))
            fields = []
            for attr, fname, ty in ATTR_FIELD_RE.findall(body.strip()):
                items = [x.strip() for x in attr.split(",")]
                tag = int(re.search(r'tag = "(\d+)"', attr).group(1))
                f = {"tag": tag, "rust": fname, "ref": None}
                if attr.startswith("btree_map"):
                    key, value = re.search(r'btree_map = "(\w+), (\w+)"', attr).groups()
                    if key != "string":
                        sys.exit(f"{module}::{m.group(1)}.{fname}: map key {key}")
                    f["label"], f["kind"] = "map", value
                else:
                    f["kind"] = items[0].split(" ")[0]
                    f["label"] = "repeated" if "repeated" in items else "single"
                if f["kind"] not in SCALARS and f["kind"] != "message":
                    sys.exit(f"{module}::{m.group(1)}.{fname}: unsupported kind {f['kind']}")
                if f["kind"] == "message":
                    refs = REF_RE.findall(ty)
                    if len(refs) != 1:
                        sys.exit(f"{module}::{m.group(1)}.{fname}: cannot resolve {ty!r}")
                    parts = refs[0].split("::")
                    mod = list(module)
                    while parts[0] == "super":
                        mod.pop()
                        parts.pop(0)
                    f["ref"] = (tuple(mod + parts[:-1]), parts[-1])
                fields.append(f)
            messages[(module, m.group(1))] = {"module": module, "rust": m.group(1), "fields": fields}
    return messages


# ---------------------------------------------------------------- k8s-openapi

SCHEMA_NAME_RE = re.compile(r'fn schema_name\(\)[^{]*\{\s*"([^"]+)"\.into\(\)')
DESER_FIELD_RE = re.compile(r'"([^"]+)" => Field::Key_\w+,')
RESOURCE_RE = re.compile(
    r'impl crate::Resource for \w+ \{\s*const API_VERSION: &\'static str = "([^"]*)";'
    r'.*?const KIND: &\'static str = "([^"]*)";', re.S)
LIST_KIND_RE = re.compile(r'const LIST_KIND: &\'static str = "([^"]*)";')


def parse_openapi(root):
    defs = {}
    base = os.path.join(root, "src", "v1_33")
    for path in sorted(glob.glob(os.path.join(base, "**", "*.rs"), recursive=True)):
        if path.endswith("mod.rs"):
            continue
        text = open(path, encoding="utf-8").read()
        sm = SCHEMA_NAME_RE.search(text)
        if not sm:
            continue
        st = re.search(r"^pub (?:struct|enum) (\w+)", text, re.M)
        de = text.find(f"Deserialize<'de> for {st.group(1)} ") if st else -1
        fields_text = text[de:text.find("_ => Field::Other", de)] if de >= 0 else ""
        info = {"json": DESER_FIELD_RE.findall(fields_text),
                "resource": None, "list_kind": None}
        rm = RESOURCE_RE.search(text)
        if rm:
            info["resource"] = rm.groups()
            lm = LIST_KIND_RE.search(text)
            if lm:
                info["list_kind"] = lm.group(1)
        defs[sm.group(1)] = info
    return defs


# ---------------------------------------------------------------- Go fields from kubectl

def parse_go(path):
    go = {}
    for line in open(path, encoding="utf-8"):
        pkg, struct, _field, kind, gotype, json, omitempty, tag = line.rstrip("\n").split("\t")
        go.setdefault((pkg, struct), {})[int(tag)] = {
            "json": json, "omitempty": omitempty == "1", "kind": kind, "type": gotype}
    return go


# ---------------------------------------------------------------- the table

SCALAR_GO_KINDS = {"string", "bool", "int", "int32", "int64", "uint8", "uint16", "uint32",
                   "uint64", "float32", "float64"}

# Messages with a JSON form of their own (see src/special.rs), by proto full name.
SPECIAL = {
    "k8s.io.apimachinery.pkg.api.resource.Quantity": "Quantity",
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": "IntOrString",
    "k8s.io.apimachinery.pkg.apis.meta.v1.Time": "Time",
    "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime": "MicroTime",
    "k8s.io.apimachinery.pkg.apis.meta.v1.Duration": "Duration",
    "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1": "RawJson",
    "k8s.io.apimachinery.pkg.apis.meta.v1.Verbs": "StringList",
    "k8s.io.apimachinery.pkg.runtime.RawExtension": "RawExtension",
    "k8s.io.api.authentication.v1.ExtraValue": "StringList",
    "k8s.io.api.authorization.v1.ExtraValue": "StringList",
    "k8s.io.api.certificates.v1.ExtraValue": "StringList",
    "k8s.io.api.authentication.v1beta1.ExtraValue": "StringList",
    "k8s.io.api.authorization.v1beta1.ExtraValue": "StringList",
    "k8s.io.api.certificates.v1beta1.ExtraValue": "StringList",
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSON": "RawJson",
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray": "SchemaOrArray",
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool": "SchemaOrBool",
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray":
        "SchemaOrStringArray",
}
# Their proto field names are the wire layout (the JSON names are placeholders).
SPECIAL_NAMES = {
    "Quantity": "Quantity", "IntOrString": "IntOrString", "Time": "Time",
    "MicroTime": "MicroTime", "Duration": "Duration", "FieldsV1": "FieldsV1", "Verbs": "Verbs",
    "RawExtension": "RawExtension", "ExtraValue": "ExtraValue", "Json": "JSON",
    "JsonSchemaPropsOrArray": "JSONSchemaPropsOrArray", "JsonSchemaPropsOrBool": "JSONSchemaPropsOrBool",
    "JsonSchemaPropsOrStringArray": "JSONSchemaPropsOrStringArray",
}

SKIP_MODULES = ("metrics", "custom_metrics", "external_metrics", "testapigroup")


def proto_package(module):
    return "k8s.io." + ".".join(module)


def definition_prefix(module):
    return "io.k8s." + ".".join([module[0].replace("_", "-")] + list(module[1:]))


def go_package(module):
    first = {"api": "k8s.io/api", "apimachinery": "k8s.io/apimachinery",
             "apiextensions_apiserver": "k8s.io/apiextensions-apiserver",
             "kube_aggregator": "k8s.io/kube-aggregator"}.get(module[0])
    return "/".join([first] + list(module[1:])) if first else None


def inline_provides(named, msg, rust, depth=0):
    """Whether a Go-inlined (`json:",inline"`) message field of `msg` has prost field `rust`."""
    for f in msg["fields"]:
        g = (msg["go"] or {}).get(f["tag"])
        if g is None or g["json"] != "" or f["ref"] not in named or depth > 8:
            continue
        inner = named[f["ref"]]
        if any(x["rust"] == rust for x in inner["fields"]) or inline_provides(named, inner, rust, depth + 1):
            return True
    return False


def is_ga(module):
    return re.fullmatch(r"v\d+", module[-1]) is not None


def is_plain_list(msg):
    """A `XList` message with only `metadata` (ListMeta) = 1 and repeated `items` = 2."""
    shape = sorted((f["tag"], f["rust"], f["label"]) for f in msg["fields"])
    return msg["rust"].endswith("List") and shape == [(1, "metadata", "single"), (2, "items", "repeated")]


def sibling_go(go, go_by_pkg, gopkg, msg):
    """The Go fields of the same struct in another version of the same API group, when kubectl
    1.32 lacks this version (a group that went GA in 1.33, e.g. networking/v1 ServiceCIDR) and
    that struct has exactly the prost message's tags."""
    group = gopkg.rpartition("/")[0]
    tags = {f["tag"] for f in msg["fields"]}
    for pkg in sorted(go_by_pkg):
        if pkg.rpartition("/")[0] != group or pkg == gopkg:
            continue
        struct = go_by_pkg[pkg].get(norm(msg["rust"]))
        fields = go.get((pkg, struct)) if struct else None
        if fields and set(fields) == tags:
            return fields
    return None


def build(pb, defs, go):
    # Name every prost message: its upstream name, definition and JSON field source.
    defs_by_prefix = {}
    for d in defs:
        prefix, _, short = d.rpartition(".")
        defs_by_prefix.setdefault(prefix, {})[norm(short)] = short
    go_by_pkg = {}
    for (pkg, struct) in go:
        go_by_pkg.setdefault(pkg, {})[norm(struct)] = struct
    named = {}
    for key, msg in pb.items():
        module = msg["module"]
        if any(s in SKIP_MODULES for s in module):
            continue
        prefix = definition_prefix(module)
        gopkg = go_package(module)
        short = defs_by_prefix.get(prefix, {}).get(norm(msg["rust"]))
        gostruct = go_by_pkg.get(gopkg, {}).get(norm(msg["rust"]))
        name = short or gostruct or SPECIAL_NAMES.get(msg["rust"]) or msg["rust"]
        proto = f"{proto_package(module)}.{name}"
        go_fields = go.get((gopkg, gostruct)) if gostruct else None
        openapi = defs.get(f"{prefix}.{short}") if short else None
        if go_fields is None and openapi is not None and gopkg:
            go_fields = sibling_go(go, go_by_pkg, gopkg, msg)
        if openapi is None and go_fields is None and is_plain_list(msg):
            openapi = {"json": ["metadata", "items"], "list_rule": True}
        named[key] = dict(msg, name=name, proto=proto, definition=f"{prefix}.{name}",
                          openapi=openapi, go=go_fields, special=SPECIAL.get(proto))
    # Map the fields of every nameable message.
    skipped_fields, unmapped, dropped_json = [], {}, []
    for key, msg in named.items():
        if msg["special"]:
            msg["out"] = [dict(f, json=snake(f["rust"]), omit_zero=False) for f in msg["fields"]]
            continue
        if msg["openapi"] is None and msg["go"] is None:
            unmapped[key] = "no OpenAPI definition or Go struct"
            continue
        by_rust = {f["rust"]: f for f in msg["fields"]}
        by_norm = {norm(f["rust"]): f for f in msg["fields"]}
        if len(by_norm) != len(by_rust):
            sys.exit(f"{msg['proto']}: prost field names collide once underscores are dropped")
        go_json = {t: g["json"] for t, g in (msg["go"] or {}).items()}
        json_of = {}
        for j in (msg["openapi"] or {}).get("json", []):
            rust = snake(j)
            f = by_rust.get(rust) or by_norm.get(norm(j))
            if f is not None:
                tag = f["tag"]
                if tag in go_json and go_json[tag] != j:
                    sys.exit(f"{msg['definition']}.{j}: Go calls tag {tag} {go_json[tag]!r}")
                json_of[tag] = j
            elif j in go_json.values() or inline_provides(named, msg, rust):
                pass  # a proto name unlike the JSON one (uID), or inlined: Go knows
            elif j in ("apiVersion", "kind"):
                pass  # TypeMeta is not in the proto
            elif is_ga(msg["module"]):
                sys.exit(f"{msg['definition']}: JSON field {j!r} ({rust}) has no prost field")
            else:  # alpha and beta APIs change between releases: note, do not fail
                dropped_json.append(f"{msg['definition']}.{j}")
        out = []
        for f in msg["fields"]:
            g = (msg["go"] or {}).get(f["tag"])
            if g is not None and g["json"] == "" and f["kind"] == "message" and f["label"] == "single":
                out.append(dict(f, json="", omit_zero=False))  # inlined: its fields are ours
                continue
            j = g["json"] if g is not None else json_of.get(f["tag"])
            if not j:
                skipped_fields.append(f"{msg['proto']}.{f['rust']} = {f['tag']}")
                continue
            omit_zero = bool(g and g["omitempty"] and g["kind"] in SCALAR_GO_KINDS | {"slice"})
            out.append(dict(f, json=j, omit_zero=omit_zero))
        msg["out"] = out
    # Keep the messages of covered packages, and fail if a kept field refers to an unmapped one.
    kept = {k: m for k, m in named.items() if "out" in m}
    for key, msg in list(kept.items()):
        items = [f for f in msg["fields"] if f["rust"] == "items"]
        if (msg["openapi"] or {}).get("list_rule") and items[0]["ref"] not in kept:
            del kept[key]  # a list of items no source names
            unmapped[key] = "a list of unnamed items"
    for key, msg in kept.items():
        for f in list(msg["out"]):
            if f["ref"] is not None and f["ref"] not in kept:
                why = unmapped.get(f["ref"], "not generated by k8s-pb")
                if is_ga(msg["module"]):
                    sys.exit(f"{msg['proto']}.{f['json']} refers to {f['ref']}: {why}")
                msg["out"].remove(f)  # alpha/beta churn: leave the field out, noted
                skipped_fields.append(f"(refers to a left-out message) {msg['proto']}.{f['rust']}")
    skipped_fields += [f"(no longer in k8s-pb) {d}" for d in dropped_json]
    return kept, skipped_fields, unmapped


def rust_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


KIND_RUST = {"string": "S", "bool": "B", "int32": "I32", "int64": "I64", "double": "F64", "bytes": "BY"}
LABEL_RUST = {"single": "ONE", "repeated": "REP", "map": "MAP"}


def emit(kept, defs, skipped_fields, unmapped, named_pb):
    order = sorted(kept, key=lambda k: kept[k]["definition"])
    index = {k: i for i, k in enumerate(order)}
    out = [
        "//! The Kubernetes protobuf message table, generated by `tools/gen_messages.py` from k8s-pb",
        "//! 0.9.0 (wire layout), k8s-openapi 0.29.0 / v1_33 (JSON names, kinds) and",
        "//! `tools/go_fields.tsv` (Go `omitempty` and inlining, from kubectl and helm binaries).",
        "//! Do not edit by hand: rerun",
        "//! `python3 tools/gen_messages.py > src/messages.rs` from the crate directory.",
        "",
        "use crate::table::{Field, Kind::*, Label::*, Message, Special};",
        "",
        "const ONE: crate::table::Label = Single;",
        "const REP: crate::table::Label = Repeated;",
        "const MAP: crate::table::Label = Map;",
        "",
        "const fn f(tag: u32, json: &'static str, kind: crate::table::Kind, label: crate::table::Label) -> Field {",
        "    Field { tag, json, kind, label, omit_zero: false }",
        "}",
        "",
        "/// Like `f`, for a Go non-pointer `omitempty` field: a zero value is left out of the JSON.",
        "const fn z(tag: u32, json: &'static str, kind: crate::table::Kind, label: crate::table::Label) -> Field {",
        "    Field { tag, json, kind, label, omit_zero: true }",
        "}",
        "",
        "/// Every message, sorted by definition name.",
        "pub(crate) static MESSAGES: &[Message] = &[",
    ]
    for key in order:
        msg = kept[key]
        special = f"Special::{msg['special']}" if msg["special"] else "Special::None"
        out.append(f"    Message {{ proto: {rust_str(msg['proto'])}, definition: "
                   f"{rust_str(msg['definition'])}, special: {special}, fields: &[")
        for fl in sorted(msg["out"], key=lambda x: x["tag"]):
            kind = f"M({index[fl['ref']]})" if fl["kind"] == "message" else KIND_RUST[fl["kind"]]
            fn = "z" if fl["omit_zero"] else "f"
            out.append(f"        {fn}({fl['tag']}, {rust_str(fl['json'])}, {kind}, {LABEL_RUST[fl['label']]}),")
        out.append("    ] },")
    out.append("];")
    # kinds
    by_def = {kept[k]["definition"]: index[k] for k in order}
    kinds = {}
    for d, info in defs.items():
        if not info["resource"] or d not in by_def:
            continue
        api_version, kind = info["resource"]
        kinds[(api_version, kind)] = by_def[d]
        if info["list_kind"]:
            list_def = d.rpartition(".")[0] + "." + info["list_kind"]
            if list_def in by_def:
                kinds[(api_version, info["list_kind"])] = by_def[list_def]
    out += ["", "/// (apiVersion, kind) → index into `MESSAGES`, sorted.",
            "pub(crate) static KINDS: &[(&str, &str, u16)] = &["]
    for (av, kind), i in sorted(kinds.items()):
        out.append(f"    ({rust_str(av)}, {rust_str(kind)}, {i}),")
    out.append("];")
    out += ["", "// Left out: prost fields newer than Kubernetes 1.33 (unknown to k8s-openapi and kubectl):"]
    out += [f"//   {s}" for s in sorted(skipped_fields)]
    out += ["// Left out: messages with no JSON name source that no kept message refers to:"]
    out += [f"//   {proto_package(named_pb[k]['module'])}.{named_pb[k]['rust']} ({why})"
            for k, why in sorted(unmapped.items())]
    return "\n".join(out) + "\n"


def main():
    pb = parse_pb(find("k8s-pb-0.9.0"))
    defs = parse_openapi(find("k8s-openapi-0.29.0"))
    go = parse_go(os.path.join(HERE, "go_fields.tsv"))
    kept, skipped, unmapped = build(pb, defs, go)
    if len(kept) > 65535:
        sys.exit("too many messages for u16 indices")
    sys.stdout.write(emit(kept, defs, skipped, unmapped, pb))


if __name__ == "__main__":
    main()

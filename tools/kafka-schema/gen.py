#!/usr/bin/env python3
"""Generates core/kafka/msg_gen.{h,c}, Eddy's description of every Kafka
message it serves or calls, from Apache Kafka's message definitions (the
JSON files under clients/src/main/resources/common/message/ of a Kafka
source checkout). Development time only: `make kafka-schema KAFKA_SRC=...`.

For each API in APIS below: a C struct per request/response and per nested
struct (fixed-width integers, ed_kstr/ed_kbytes slices into the frame,
arrays as count + pointer), and a static const field table read by the
codec in core/kafka/schema.c. Only the versions Eddy supports are kept.
"""
import json
import os
import re
import sys

# The one list of Kafka APIs Eddy speaks: (name, versions the server serves,
# versions the client calls); None = that side does not speak the API.
# Adding a version or an API is an edit here and a regeneration.
APIS = [
    ("Produce", (0, 11), (3, 9)),
    ("Fetch", (4, 17), (4, 12)),
    ("ListOffsets", (0, 7), (1, 7)),
    ("Metadata", (0, 12), (1, 12)),
    ("OffsetCommit", (0, 9), (2, 9)),
    ("OffsetFetch", (0, 9), (1, 9)),
    ("FindCoordinator", (0, 4), (0, 4)),
    ("JoinGroup", (0, 9), (0, 9)),
    ("Heartbeat", (0, 4), (0, 4)),
    ("LeaveGroup", (0, 5), (0, 5)),
    ("SyncGroup", (0, 5), (0, 5)),
    ("DescribeGroups", (0, 5), (0, 5)),
    ("ListGroups", (0, 5), (0, 5)),
    ("SaslHandshake", (0, 1), (0, 1)),
    ("ApiVersions", (0, 4), (0, 3)),
    ("CreateTopics", (0, 7), (2, 7)),
    ("DeleteTopics", (0, 6), (1, 6)),
    ("InitProducerId", (0, 5), (0, 5)),
    ("OffsetForLeaderEpoch", (0, 4), None),
    ("AddPartitionsToTxn", None, (0, 3)),
    ("AddOffsetsToTxn", None, (0, 3)),
    ("EndTxn", None, (0, 3)),
    ("TxnOffsetCommit", None, (0, 3)),
    ("DescribeAcls", (1, 3), None),
    ("CreateAcls", (1, 3), None),
    ("DeleteAcls", (1, 3), None),
    ("DescribeConfigs", (0, 4), (1, 4)),
    ("AlterConfigs", (0, 2), (0, 2)),
    ("SaslAuthenticate", (0, 2), (0, 2)),
    ("CreatePartitions", (0, 3), (0, 3)),
    ("DeleteGroups", (0, 2), (0, 2)),
    ("IncrementalAlterConfigs", (0, 1), (0, 1)),
    ("OffsetDelete", (0, 0), (0, 0)),
    ("DescribeClientQuotas", (0, 1), None),
    ("DescribeUserScramCredentials", (0, 0), None),
    ("AlterUserScramCredentials", (0, 0), None),
    ("DescribeCluster", (0, 1), None),
]
HEADERS = [("RequestHeader", (0, 2)), ("ResponseHeader", (0, 1))]

VMAX = 127  # ED_KV_MAX: "and every later version"
PRIM = {
    "bool": ("bool", "ED_KT_BOOL"),
    "int8": ("int8_t", "ED_KT_INT8"),
    "int16": ("int16_t", "ED_KT_INT16"),
    "uint16": ("uint16_t", "ED_KT_UINT16"),
    "int32": ("int32_t", "ED_KT_INT32"),
    "uint32": ("uint32_t", "ED_KT_UINT32"),
    "int64": ("int64_t", "ED_KT_INT64"),
    "float64": ("double", "ED_KT_FLOAT64"),
    "uuid": ("uint8_t", "ED_KT_UUID"),
    "string": ("ed_kstr", "ED_KT_STRING"),
    "bytes": ("ed_kbytes", "ED_KT_BYTES"),
    "records": ("ed_kbytes", "ED_KT_RECORDS"),
}
C_WORDS = {"default", "int", "char", "short", "long", "struct", "union", "for", "do",
           "if", "else", "switch", "case", "return", "register", "static", "const"}


def die(msg):
    sys.exit("gen.py: " + msg)


def load(path):
    """Kafka's files are JSON with whole-line // comments."""
    with open(path, encoding="utf-8") as f:
        text = "".join(l for l in f if not l.lstrip().startswith("//"))
    return json.loads(text)


def vrange(s):
    """'3+', '1-4', '2', 'none' or '' as (lo, hi); None for none."""
    if s is None or s in ("", "none"):
        return None
    m = re.fullmatch(r"(\d+)(\+|-(\d+))?", s.strip())
    if not m:
        die("bad version range %r" % s)
    lo = int(m.group(1))
    if m.group(2) == "+":
        return (lo, VMAX)
    return (lo, int(m.group(3)) if m.group(3) else lo)


def clip(r, lo, hi):
    if r is None or r[1] < lo or r[0] > hi:
        return None
    return (max(r[0], lo), min(r[1], hi))


def snake(s):
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()
    return s + "_" if s in C_WORDS else s


class Gen:
    def __init__(self):
        self.structs = []  # (cname, [fields]) in dependency order
        self.hdr_out = []

    def struct(self, msg_snake, sname, fields, common, lo, hi, seen):
        """Emits one struct (and its nested ones first); returns its C name
        or None when no field is present in [lo, hi]."""
        s = snake(sname)
        cname = "ed_kmsg_" + (s if s.startswith(msg_snake) else msg_snake + "_" + s)
        if cname in seen:
            return seen[cname]
        out = []
        for f in fields:
            vr = clip(vrange(f.get("versions")), lo, hi)
            if vr is None:
                continue
            t = f["type"]
            arr = t.startswith("[]")
            base = t[2:] if arr else t
            sub = None
            if base not in PRIM:
                sf = f.get("fields") or common.get(base)
                if sf is None:
                    die("%s: unknown type %s" % (sname, base))
                sub = self.struct(msg_snake, base, sf, common, vr[0], vr[1], seen)
                if sub is None:
                    continue
            nr = clip(vrange(f.get("nullableVersions")), lo, hi)
            if nr and sub and not arr:
                die("%s.%s: nullable structs are not supported" % (sname, f["name"]))
            tag = f.get("tag")
            tr = clip(vrange(f.get("taggedVersions")), lo, hi) if tag is not None else None
            if tag is not None and tr is None:
                tag = None
            d = f.get("default")
            def_null = d == "null"
            if d is None or def_null or base not in ("bool", "int8", "int16", "uint16", "int32",
                                                     "uint32", "int64", "float64"):
                if d not in (None, "", "null") and base in ("string", "bytes"):
                    die("%s.%s: string default %r unsupported" % (sname, f["name"], d))
                dv = 0
            elif base == "bool":
                dv = 1 if str(d).lower() == "true" else 0
            elif base == "float64":
                dv = int(float(d))
            else:
                dv = int(str(d), 0)
            noflex = f.get("flexibleVersions") == "none"
            out.append(dict(name=f["name"], c=snake(f["name"]), base=base, arr=arr, sub=sub,
                            vr=vr, nr=nr, tag=tag, tr=tr, dv=dv, def_null=def_null,
                            noflex=noflex))
        if not out:
            seen[cname] = None
            return None
        seen[cname] = cname
        self.structs.append((cname, sname, out))
        return cname

    def message(self, path, lo, hi):
        m = load(path)
        valid = vrange(m["validVersions"])
        if lo < valid[0] or hi > valid[1]:
            die("%s: range %d-%d outside Kafka's %s" % (m["name"], lo, hi, m["validVersions"]))
        common = {c["name"]: c["fields"] for c in m.get("commonStructs", [])}
        flex = vrange(m.get("flexibleVersions"))
        cname = self.struct(snake(m["name"]), m["name"], m["fields"], common, lo, hi, {})
        if cname is None:  # an empty message (e.g. ApiVersionsRequest v0)
            cname = "ed_kmsg_" + snake(m["name"])
            self.structs.append((cname, m["name"], []))
        return m, cname, (flex[0] if flex and flex[0] <= hi else -1)


def fmt_v(v):
    return "ED_KV_MAX" if v == VMAX else str(v)


NAMES = {}  # field name -> offset in ed_kmsg_field_names
NAME_BLOB = []


def name_off(name):
    if name not in NAMES:
        NAMES[name] = sum(len(n) + 1 for n in NAME_BLOB)
        NAME_BLOB.append(name)
    return NAMES[name]


def field_row(cname, f):
    prim = PRIM.get(f["base"])
    ktype = "ED_KT_STRUCT" if f["sub"] else prim[1]
    flags = []
    if f["arr"]:
        flags.append("ED_KF_ARRAY")
    if f["def_null"]:
        flags.append("ED_KF_DEF_NULL")
    if f["noflex"]:
        flags.append("ED_KF_NOFLEX")
    nr = f["nr"] or (-1, -1)
    tr = f["tr"] or (-1, -1)
    off = "offsetof(struct %s, %s)" % (cname, ("n_" + f["c"]) if f["arr"] else f["c"])
    off_ptr = "offsetof(struct %s, %s)" % (cname, f["c"]) if f["arr"] else "0"
    sub = "&%s_desc" % f["sub"] if f["sub"] else "NULL"
    if not -2**31 <= f["dv"] < 2**31:
        die("%s: default %d does not fit 32 bits" % (f["name"], f["dv"]))
    if f["tag"] is not None and f["tag"] > 0x7FFF:
        die("%s: tag %d too large" % (f["name"], f["tag"]))
    dv = "INT32_MIN" if f["dv"] == -2**31 else str(f["dv"])
    return ("    {%s, %s, %d, %s, %s, %s, %s, %d, %d, %d, %d, %d, %s, %s}, /* %s */"
            % (off, off_ptr, name_off(f["name"]), ktype, " | ".join(flags) or "0", f["vr"][0],
               fmt_v(f["vr"][1]), nr[0], nr[1], -1 if f["tag"] is None else f["tag"], tr[0],
               tr[1], dv, sub, f["name"]))


def main():
    if len(sys.argv) != 3:
        die("usage: gen.py KAFKA_SRC OUT_DIR")
    mdir = os.path.join(sys.argv[1], "clients/src/main/resources/common/message")
    outdir = sys.argv[2]
    g = Gen()
    apis = []
    for name, srv, cli in APIS:
        rs = [r for r in (srv, cli) if r]
        lo, hi = min(r[0] for r in rs), max(r[1] for r in rs)
        req, req_c, flex = g.message(os.path.join(mdir, name + "Request.json"), lo, hi)
        resp, resp_c, rflex = g.message(os.path.join(mdir, name + "Response.json"), lo, hi)
        if req["apiKey"] != resp["apiKey"] or flex != rflex:
            die("%s: request and response disagree" % name)
        apis.append((name, req["apiKey"], lo, hi, flex, srv, cli, req_c, resp_c))
    hdrs = []
    for name, (lo, hi) in HEADERS:
        _, c, _ = g.message(os.path.join(mdir, name + ".json"), lo, hi)
        hdrs.append(c)
    apis.sort(key=lambda a: a[1])

    banner = ("/* GENERATED by tools/kafka-schema/gen.py from Apache Kafka's message\n"
              " * definitions: do not edit. Regenerate with\n"
              " *   make kafka-schema KAFKA_SRC=<a Kafka source checkout>\n"
              " * after changing the API list (names and version ranges) in gen.py.\n")
    h = [banner + " * The message structs and their descriptors for core/kafka/schema.h. */",
         "#ifndef ED_CORE_KAFKA_MSG_GEN_H", "#define ED_CORE_KAFKA_MSG_GEN_H", "",
         '#include "core/kafka/schema.h"', "",
         "/* API keys Eddy speaks. */", "enum ed_kmsg_key {"]
    for a in apis:
        h.append("    ED_KMSG_%s = %d," % (snake(a[0]).upper(), a[1]))
    h.append("    ED_KMSG_N_KEYS = 80")
    h.append("};")
    h.append("")
    h.append("/* Server versions as {min, max, first flexible} for core/kafka/kapi.c's table. */")
    for a in apis:
        if a[5]:
            h.append("#define ED_KMSG_SERVES_%s %d, %d, %d" % (snake(a[0]).upper(), a[5][0],
                                                             a[5][1], a[4]))
    h.append("")
    for cname, sname, fields in g.structs:
        h.append("/* %s */" % sname)
        h.append("struct %s {" % cname)
        for f in fields:
            if f["sub"]:
                t = "struct %s" % f["sub"]
            else:
                t = PRIM[f["base"]][0]
            if f["arr"]:
                h.append("    int32_t n_%s; /* -1 = null */" % f["c"])
                h.append("    %s *%s;" % (t, f["c"]))
            elif f["base"] == "uuid":
                h.append("    uint8_t %s[16];" % f["c"])
            else:
                h.append("    %s %s;" % (t, f["c"]))
        if not fields:
            h.append("    char unused; /* no field in Eddy's versions */")
        h.append("};")
        h.append("extern const struct ed_kstruct %s_desc;" % cname)
        h.append("")
    h.append("extern const char ed_kmsg_field_names[];")
    h.append("extern const struct ed_kmsg_api ed_kmsg_apis[%d];" % len(apis))
    h.append("#define ED_KMSG_N_APIS %d" % len(apis))
    h.append("")
    h.append("#endif")

    c = [banner + " * The field tables of every message Eddy speaks. */",
         '#include "core/kafka/msg_gen.h"', "", "#include <stddef.h>", "#include <stdint.h>", ""]
    for cname, sname, fields in g.structs:
        if fields:
            c.append("static const struct ed_kfield %s_fields[] = {" % cname)
            for f in fields:
                c.append(field_row(cname, f))
            c.append("};")
        c.append("const struct ed_kstruct %s_desc = {\"%s\", sizeof(struct %s), %d, %s};"
                 % (cname, sname, cname, len(fields), (cname + "_fields") if fields else "NULL"))
        c.append("")
    blob = "".join(n + "\\0" for n in NAME_BLOB)
    c.append("/* Kafka's field names, NUL-separated (ed_kfield.name_off). */")
    c.append("const char ed_kmsg_field_names[] =")
    for i in range(0, len(NAME_BLOB), 4):
        c.append("    \"%s\"" % "".join(n + "\\0" for n in NAME_BLOB[i:i + 4]))
    c[-1] += ";"
    c.append("")
    c.append("const struct ed_kmsg_api ed_kmsg_apis[%d] = {" % len(apis))
    for name, key, lo, hi, flex, srv, cli, req_c, resp_c in apis:
        srv = srv or (-1, -1)
        cli = cli or (-1, -1)
        c.append("    {%d, %d, %d, %d, %d, %d, %d, %d, \"%s\", &%s_desc, &%s_desc},"
                 % (key, lo, hi, flex, srv[0], srv[1], cli[0], cli[1], name, req_c, resp_c))
    c.append("};")
    with open(os.path.join(outdir, "msg_gen.h"), "w", encoding="utf-8") as f:
        f.write("\n".join(h) + "\n")
    with open(os.path.join(outdir, "msg_gen.c"), "w", encoding="utf-8") as f:
        f.write("\n".join(c) + "\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Check the example findings in examples/findings/ against the GuardDuty wire shape.

Every key in `detail` must be a wire (camelCase, locationName) key of its shape, and every
value must have the wire type of that shape: `timestamp` shapes are epoch-seconds numbers,
Finding-level times (createdAt, updatedAt, eventFirstSeen, ...) are ISO-8601 strings.

Shapes come from the tables of FINDING-SHAPE.md (built from the botocore service model).
Shapes that file has no table for (Tag, SecurityGroup, RemoteIpDetails, ...) are taken from
botocore's service model when botocore is importable; otherwise they are reported as
unchecked (an error with --strict).

Also checked: the EventBridge envelope, ids and ARNs, severity bands, runtime process
fields, documentation-range remote IPs, and the compact size (1.5-3 KB).

Usage: python3 examples/check-shape.py [--shape PATH/FINDING-SHAPE.md] [--strict] [FILE ...]
Standard library only (botocore optional). Exit status 1 on any error.
"""
import argparse
import ipaddress
import json
import os
import pathlib
import re
import sys
from datetime import datetime

HERE = pathlib.Path(__file__).resolve().parent
# The field model beside the clone (../shared/findings/, not part of this repository), unless
# SLUICE_FINDING_SHAPE or --shape names another copy.
DEFAULT_SHAPE = os.environ.get("SLUICE_FINDING_SHAPE", str(HERE.parent.parent / "shared" / "findings" / "FINDING-SHAPE.md"))

ENVELOPE_KEYS = {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
SCALARS = {"string", "integer", "double", "boolean", "timestamp", "long", "float"}
DOC_NETS = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")]
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$")
HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
RUNTIME_PROCESS_KEYS = {"name", "executablePath", "executableSha256", "pid", "namespacePid", "pwd", "user",
                        "userId", "euid", "uuid", "parentUuid", "startTime", "lineage"}
MIN_SIZE, MAX_SIZE = 1500, 3000


class Schema:
    """shape name -> {wire key: type descriptor}; descriptors are ("scalar", kind),
    ("struct", name), ("list", descriptor), ("map",) or ("named", name) (resolved lazily)."""

    def __init__(self, md_path):
        self.tables = self._parse_md(md_path)
        self.botocore = self._load_botocore()

    @staticmethod
    def _parse_md(path):
        tables, current = {}, None
        row = re.compile(r"^\|\s*`[^`]+`\s*\|\s*`([^`]+)`\s*\|\s*`([^`]+)`\s*\(([^)]*)\)\s*\|")
        for line in pathlib.Path(path).read_text(encoding="utf-8").splitlines():
            if line.startswith("### "):
                current = line[4:].strip()
                tables[current] = {}
                continue
            m = row.match(line)
            if current and m:
                wire, shape, kind = m.group(1), m.group(2), m.group(3).strip()
                if kind == "structure":
                    desc = ("struct", shape)
                elif kind.startswith("list of "):
                    desc = ("list", ("named", kind[len("list of "):].strip()))
                elif kind.startswith("string"):  # "string", "string enum: ..."
                    desc = ("scalar", "string")
                elif kind in SCALARS:
                    desc = ("scalar", kind)
                elif kind.startswith("map"):
                    desc = ("map",)
                else:
                    desc = ("named", shape)
                tables[current][wire] = desc
        return {k: v for k, v in tables.items() if v}

    @staticmethod
    def _load_botocore():
        try:
            import botocore.session
            return botocore.session.get_session().get_service_model("guardduty")
        except Exception:
            return None

    def _bc_desc(self, shape):
        t = shape.type_name
        if t == "structure":
            return ("struct", shape.name)
        if t == "list":
            return ("list", self._bc_desc(shape.member))
        if t == "map":
            return ("map",)
        return ("scalar", t)

    def members(self, name):
        """Returns (members dict, source) or (None, None) when the shape is unknown."""
        if name in self.tables:
            return self.tables[name], "FINDING-SHAPE.md"
        if self.botocore is not None:
            try:
                shape = self.botocore.shape_for(name)
            except Exception:
                return None, None
            if shape.type_name == "structure":
                return ({m.serialization.get("name", k): self._bc_desc(m) for k, m in shape.members.items()},
                        "botocore")
        return None, None

    def resolve(self, desc):
        if desc[0] != "named":
            return desc
        name = desc[1]
        if name in self.tables:
            return ("struct", name)
        if name == "String":
            return ("scalar", "string")
        if self.botocore is not None:
            try:
                return self._bc_desc(self.botocore.shape_for(name))
            except Exception:
                pass
        return ("unknown", name)


class Checker:
    def __init__(self, schema, strict):
        self.schema, self.strict = schema, strict
        self.errors, self.warnings = [], []
        self.sources = {}

    def err(self, where, msg):
        self.errors.append(f"{where}: {msg}")

    def warn(self, where, msg):
        (self.errors if self.strict else self.warnings).append(f"{where}: {msg}")

    def walk(self, value, desc, where):
        desc = self.schema.resolve(desc)
        kind = desc[0]
        if kind == "struct":
            if not isinstance(value, dict):
                return self.err(where, f"expected object ({desc[1]})")
            members, source = self.schema.members(desc[1])
            if members is None:
                return self.warn(where, f"shape {desc[1]} not covered by FINDING-SHAPE.md (botocore absent)")
            for key, sub in value.items():
                if key not in members:
                    self.err(f"{where}.{key}", f"not a wire key of {desc[1]} ({source})")
                    continue
                self.sources[source] = self.sources.get(source, 0) + 1
                self.walk(sub, members[key], f"{where}.{key}")
        elif kind == "list":
            if not isinstance(value, list):
                return self.err(where, "expected array")
            for i, item in enumerate(value):
                self.walk(item, desc[1], f"{where}[{i}]")
        elif kind == "map":
            if not isinstance(value, dict):
                self.err(where, "expected object (map)")
        elif kind == "scalar":
            t = desc[1]
            ok = {
                "string": lambda v: isinstance(v, str),
                "boolean": lambda v: isinstance(v, bool),
                "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
                "long": lambda v: isinstance(v, int) and not isinstance(v, bool),
            }.get(t, lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))(value)
            if not ok:
                hint = " (timestamp shapes are epoch-seconds numbers on the wire)" if t == "timestamp" else ""
                self.err(where, f"expected {t}, got {type(value).__name__} {value!r}{hint}")
        else:
            self.warn(where, f"shape {desc[1]} not covered by FINDING-SHAPE.md (botocore absent)")

    def check_file(self, path):
        name = path.name
        try:
            env = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as e:
            return self.err(name, f"invalid JSON: {e}")
        size = len(json.dumps(env, separators=(",", ":"), ensure_ascii=False).encode())
        if not MIN_SIZE <= size <= MAX_SIZE:
            self.err(name, f"compact size {size} B outside {MIN_SIZE}-{MAX_SIZE}")
        if not isinstance(env, dict) or set(env) != ENVELOPE_KEYS:
            return self.err(name, f"envelope keys {sorted(env) if isinstance(env, dict) else env!r} "
                                  f"!= {sorted(ENVELOPE_KEYS)}")
        if env["detail-type"] != "GuardDuty Finding" or env["source"] != "aws.guardduty":
            self.err(name, "detail-type/source must be 'GuardDuty Finding' / 'aws.guardduty'")
        if env["version"] != "0" or env["resources"] != []:
            self.err(name, "envelope version must be \"0\" and resources []")
        if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", str(env["time"])):
            self.err(name, f"envelope time {env['time']!r} is not YYYY-MM-DDTHH:MM:SSZ")
        d = env["detail"]
        self.walk(d, ("struct", "Finding"), f"{name}:detail")
        if not isinstance(d, dict):
            return
        if env["account"] != d.get("accountId") or env["region"] != d.get("region"):
            self.err(name, "envelope account/region differ from detail.accountId/region")
        self.check_finding(name, d)

    def check_finding(self, name, d):
        fid, acct, region = d.get("id", ""), d.get("accountId", ""), d.get("region", "")
        svc = d.get("service", {})
        det = svc.get("detectorId", "")
        if not HEX32.match(fid) or not HEX32.match(det):
            self.err(name, "finding id and detectorId must be 32 lowercase hex chars")
        if d.get("arn") != f"arn:aws:guardduty:{region}:{acct}:detector/{det}/finding/{fid}":
            self.err(name, f"arn {d.get('arn')!r} inconsistent with region/account/detector/id")
        if d.get("schemaVersion") != "2.0" or d.get("partition") != "aws":
            self.err(name, "schemaVersion must be \"2.0\" and partition \"aws\"")
        sev = d.get("severity")
        if not isinstance(sev, (int, float)) or isinstance(sev, bool) or not 1 <= sev <= 10:
            self.err(name, f"severity {sev!r} must be a number in 1..10")
        times = {k: d.get(k) for k in ("createdAt", "updatedAt")}
        times.update({k: svc.get(k) for k in ("eventFirstSeen", "eventLastSeen")})
        for k, v in times.items():
            if not isinstance(v, str) or not ISO_MS.match(v):
                self.err(name, f"{k} {v!r} must be an ISO-8601 UTC string")
        parsed = {k: datetime.fromisoformat(v.replace("Z", "+00:00"))
                  for k, v in times.items() if isinstance(v, str) and ISO_MS.match(v)}
        for a, b in (("createdAt", "updatedAt"), ("eventFirstSeen", "eventLastSeen"),
                     ("eventFirstSeen", "createdAt")):
            if a in parsed and b in parsed and parsed[a] > parsed[b]:
                self.err(name, f"{a} is after {b}")
        for k in ("serviceName", "resourceRole", "featureName", "count"):
            if k not in svc:
                self.err(name, f"service.{k} missing")
        is_runtime = ":Runtime/" in d.get("type", "")
        if is_runtime != (svc.get("featureName") == "RuntimeMonitoring"):
            self.err(name, "Runtime finding types go with featureName RuntimeMonitoring (and only they)")
        if is_runtime:
            proc = svc.get("runtimeDetails", {}).get("process", {})
            missing = RUNTIME_PROCESS_KEYS - set(proc)
            if missing:
                self.err(name, f"runtimeDetails.process lacks {sorted(missing)}")
            if not HEX64.match(str(proc.get("executableSha256", ""))):
                self.err(name, "executableSha256 must be 64 lowercase hex chars")
            if not proc.get("lineage"):
                self.err(name, "runtimeDetails.process.lineage must be a non-empty list")
        for path, ip in iter_ips(d):
            addr = ipaddress.ip_address(ip)
            if "remoteIpDetails" in path and not any(addr in n for n in DOC_NETS):
                self.err(name, f"{path} {ip} is not in a documentation range")
            if "localIpDetails" in path or path.endswith("privateIpAddress"):
                if addr not in ipaddress.ip_network("10.0.0.0/8"):
                    self.err(name, f"{path} {ip} is not a 10.x private address")


def iter_ips(node, path="detail"):
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("ipAddressV4", "privateIpAddress", "publicIp") and isinstance(v, str):
                yield f"{path}.{k}", v
            else:
                yield from iter_ips(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from iter_ips(v, f"{path}[{i}]")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", default=DEFAULT_SHAPE, help="path to FINDING-SHAPE.md")
    ap.add_argument("--strict", action="store_true", help="shapes that cannot be checked are errors")
    ap.add_argument("files", nargs="*", type=pathlib.Path)
    args = ap.parse_args()
    files = args.files or sorted((HERE / "findings").glob("*.json"))
    if not pathlib.Path(args.shape).is_file():
        print(f"FINDING-SHAPE.md not found at {args.shape} (use --shape or SLUICE_FINDING_SHAPE)", file=sys.stderr)
        return 2
    checker = Checker(Schema(args.shape), args.strict)
    for path in files:
        checker.check_file(path)
    for w in checker.warnings:
        print("warning:", w)
    for e in checker.errors:
        print("error:", e)
    src = ", ".join(f"{n} keys via {s}" for s, n in sorted(checker.sources.items()))
    print(f"{len(files)} files, {len(checker.errors)} errors, {len(checker.warnings)} warnings ({src})")
    return 1 if checker.errors else 0


if __name__ == "__main__":
    sys.exit(main())

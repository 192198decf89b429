#!/usr/bin/env python3
"""Check the multi-format fixtures (examples/findings/{asff,ocsf,falco}/) and the normalised view.

Three jobs, so the Swift tests of issue 14 can rely on these files:

1. Shapes. Every fixture is checked against its format's contract:
   - ASFF: the Security Hub EventBridge envelopes ("Security Hub Findings - Imported",
     "Security Hub Findings - Custom Action"), the bare BatchImportFindings body {"Findings": [...]}
     and a bare finding; the attributes BatchImportFindings requires; Severity Label/Normalized
     consistency; every key and value type against botocore's securityhub service model
     (AwsSecurityFinding) when botocore is importable.
   - OCSF: Detection Finding 2004 and Security Finding 2001, bare or in the "Findings Imported V2"
     envelope, validated with jsonschema against the JSON Schema that the PyPI package
     ocsf-json-schema builds from the official OCSF schema export of the event's own
     metadata.version and metadata.profiles (unknown keys, wrong types, bad enum values and
     missing required attributes are all errors).
   - Falco: the JSON output of Falco (json_output: true) and falcosidekick's payload: rule,
     priority, output, time (RFC 3339, nanoseconds), output_fields, source, optional uuid.
2. The normalised view. `sluice_view()` below is the reference implementation of the mapping in
   docs/formats.md (format detection, ASFF/V2 split, severity table, Falco ids). Its result for
   every fixture (and for the GuardDuty fixtures in examples/findings/*.json) must equal the
   reviewed table examples/expected-views.json. The Swift implementation must produce the
   same table; a difference means one of the two is wrong.
3. OCSF out. `ocsf_out()` is the reference of the any-input -> OCSF Detection Finding (2004)
   conversion; its result for a few fixtures is stored in examples/ocsf-out/ and each
   stored document is validated against every packaged OCSF version from 1.1.0 on.

Usage: python3 examples/check-formats.py [--strict] [--update] [--self-test]
  --strict     a validator that is not importable (botocore, ocsf_json_schema, jsonschema) is an error
  --update     rewrite expected-views.json and ocsf-out/ from the reference (review the diff!)
  --self-test  also break copies of fixtures in known ways and require each break to be reported
Standard library only; botocore, ocsf-json-schema and jsonschema are used when importable
(scripts/setup installs them into .tools/venv). Exit status 1 on any error.
"""
import argparse
import hashlib
import json
import pathlib
import re
import sys
from datetime import datetime, timezone

HERE = pathlib.Path(__file__).resolve().parent
FINDINGS = HERE / "findings"
FORMATS = ("asff", "ocsf", "falco")
# Records that break their format's contract on purpose (injection text, out-of-range numbers, bad
# times, wrong types): only their views are checked, to pin down what the mapping does with them.
HOSTILE = "hostile"
EXPECTED = HERE / "expected-views.json"
OCSF_OUT_DIR = HERE / "ocsf-out"
# Fixtures whose OCSF-out conversion is stored as an example (one per input format).
OCSF_OUT_SOURCES = ("01-ec2-cryptominer.json", "asff/02-inspector-ecr-critical-cve.json",
                    "ocsf/02-edr-detection-critical-1.1.json", "falco/01-k8s-terminal-shell-sidekick.json")
OCSF_OUT_VERSION = "1.1.0"

SEVERITY_LABELS = {0: "Unknown", 1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical", 6: "Fatal"}
ASFF_LABELS = {"INFORMATIONAL": 1, "LOW": 2, "MEDIUM": 3, "HIGH": 4, "CRITICAL": 5}
# falcosidekick's mapping (outputs/awssecuritylake.go); "info" is Falco's short spelling.
FALCO_PRIORITIES = {"emergency": 6, "alert": 6, "critical": 5, "error": 4, "warning": 3, "notice": 2,
                    "informational": 1, "info": 1, "debug": 1}
ASFF_ENVELOPES = {"Security Hub Findings - Imported", "Security Hub Findings - Custom Action"}
OCSF_ENVELOPE = "Findings Imported V2"
ASFF_REQUIRED = ("SchemaVersion", "Id", "ProductArn", "GeneratorId", "AwsAccountId", "Types", "CreatedAt",
                 "UpdatedAt", "Severity", "Title", "Description", "Resources")
RFC3339 = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:?\d\d)$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


# ---------------------------------------------------------------------------------------------
# Reference mapping (docs/formats.md). Pure functions of the event; no I/O.

def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def text(v):
    """A string field of the view: strings pass, anything else is absent."""
    return v if isinstance(v, str) else None


def get(obj, *path):
    for key in path:
        if isinstance(obj, dict) and key in obj:
            obj = obj[key]
        elif isinstance(obj, list) and isinstance(key, int) and -len(obj) <= key < len(obj):
            obj = obj[key]
        else:
            return None
    return obj


def rfc3339(value):
    """RFC 3339 text -> 'YYYY-MM-DDTHH:MM:SS.mmmZ' in UTC (fraction truncated to ms); else None."""
    if not isinstance(value, str):
        return None
    m = RFC3339.match(value)
    if not m:
        return None
    y, mo, d, h, mi, s, frac, zone = m.groups()
    try:
        base = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=timezone.utc)
    except ValueError:
        return None
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        offset = sign * (int(digits[:2]) * 60 + int(digits[2:]))
        base = datetime.fromtimestamp(base.timestamp() - offset * 60, timezone.utc)
    ms = int((frac or "0")[:3].ljust(3, "0"))
    return base.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms:03d}Z"


def integral(v, limit):
    """A JSON number with an integral value in 0..limit, whatever its spelling (1700000000000 or
    1.7e12), as int; else None. Checked before any conversion, so nothing can trap."""
    if is_number(v) and 0 <= v <= limit and v == int(v):
        return int(v)
    return None


def epoch_ms(value):
    """OCSF timestamp_t (milliseconds since the epoch, up to year 9999) -> view time text; else None."""
    value = integral(value, 253402300799999)
    if value is None:
        return None
    seconds, ms = divmod(value, 1000)
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + f".{ms:03d}Z"


def view_ms(view_time):
    """View time text -> integer epoch milliseconds (for OCSF out)."""
    dt = datetime.strptime(view_time, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return int(dt.replace(microsecond=0).timestamp()) * 1000 + dt.microsecond // 1000


def count_of(v):
    """A count: non-negative integral JSON number or decimal text below 2^53; else None (never traps)."""
    if isinstance(v, str) and re.fullmatch(r"\d{1,15}", v):
        return int(v)
    return integral(v, 2 ** 53 - 1)


def first_count(v):
    """The view's count: the source's count when it is a valid count, else 1."""
    c = count_of(v)
    return 1 if c is None else c


def guardduty_severity_id(score):
    if not is_number(score):
        return 0
    return 5 if score >= 9 else 4 if score >= 7 else 3 if score >= 4 else 2


def asff_severity_id(severity):
    label = get(severity, "Label")
    if isinstance(label, str) and label in ASFF_LABELS:
        return ASFF_LABELS[label]
    n = integral(get(severity, "Normalized"), 100)
    if n is not None:
        return 1 if n == 0 else 2 if n < 40 else 3 if n < 70 else 4 if n < 90 else 5
    return 0


def ocsf_severity_id(v):
    v = integral(v, 6)
    return 0 if v is None else v


def falco_severity_id(priority):
    return FALCO_PRIORITIES.get(priority.lower(), 0) if isinstance(priority, str) else 0


def falco_id(event):
    """Stable id of a Falco event without uuid: sha256 over length-prefixed rule, time, hostname
    and output (UTF-8), lowercase hex, first 32 characters."""
    h = hashlib.sha256()
    for key in ("rule", "time", "hostname", "output"):
        raw = (text(event.get(key)) or "").encode("utf-8")
        h.update(str(len(raw)).encode() + b":" + raw)
    return h.hexdigest()[:32]


def detect(event):
    """-> (format, [findings], envelope) ; format None when the record is no known finding."""
    if not isinstance(event, dict):
        return None, [], None
    source, detail_type, detail = event.get("source"), event.get("detail-type"), event.get("detail")
    if source == "aws.guardduty" and detail_type == "GuardDuty Finding" and isinstance(detail, dict):
        return "guardduty", [detail], event
    if source == "aws.securityhub" and isinstance(get(detail, "findings"), list):
        if detail_type in ASFF_ENVELOPES:
            return "asff", detail["findings"], event
        if detail_type == OCSF_ENVELOPE:
            return "ocsf", detail["findings"], event
    if isinstance(event.get("Findings"), list):
        return "asff", event["Findings"], None
    if "SchemaVersion" in event and "ProductArn" in event:
        return "asff", [event], None
    if event.get("class_uid") in (2004, 2001) and isinstance(event.get("metadata"), dict):
        return "ocsf", [event], None
    if isinstance(event.get("rule"), str) and "priority" in event and "output" in event:
        return "falco", [event], None
    if isinstance(event.get("type"), str) and isinstance(event.get("resource"), dict) and "accountId" in event:
        return "guardduty", [event], None
    return None, [], None


def put(view, key, value):
    if value is not None:
        view[key] = value


def resource(rtype, rid, name):
    r = {}
    put(r, "type", text(rtype))
    put(r, "id", text(rid))
    put(r, "name", text(name))
    return r or None


def last_component(identifier):
    if not isinstance(identifier, str):
        return None
    return identifier.rsplit("/", 1)[-1] if "/" in identifier else identifier.rsplit(":", 1)[-1]


def guardduty_resource(r):
    rtype = get(r, "resourceType")
    if rtype == "Instance":
        iid = get(r, "instanceDetails", "instanceId")
        tags = get(r, "instanceDetails", "tags") or []
        name = next((t.get("value") for t in tags if isinstance(t, dict) and t.get("key") == "Name"), None)
        return resource(rtype, iid, name or iid)
    if rtype == "EKSCluster":
        return resource(rtype, get(r, "eksClusterDetails", "arn"), get(r, "eksClusterDetails", "name"))
    if rtype == "ECSCluster":
        return resource(rtype, get(r, "ecsClusterDetails", "taskDetails", "arn") or get(r, "ecsClusterDetails", "arn"),
                        get(r, "ecsClusterDetails", "name"))
    if rtype == "Container":
        return resource(rtype, get(r, "containerDetails", "id"), get(r, "containerDetails", "name"))
    if rtype == "AccessKey":
        return resource(rtype, get(r, "accessKeyDetails", "accessKeyId"), get(r, "accessKeyDetails", "userName"))
    if rtype == "S3Bucket":
        return resource(rtype, get(r, "s3BucketDetails", 0, "arn"), get(r, "s3BucketDetails", 0, "name"))
    if rtype == "Lambda":
        return resource(rtype, get(r, "lambdaDetails", "functionArn"), get(r, "lambdaDetails", "functionName"))
    if rtype == "RDSDBInstance":
        return resource(rtype, get(r, "rdsDbInstanceDetails", "dbInstanceArn"),
                        get(r, "rdsDbInstanceDetails", "dbInstanceIdentifier"))
    return resource(rtype, None, None)


# view key of `process` -> key in GuardDuty's runtimeDetails.process / in Falco's output_fields
GUARDDUTY_PROCESS = {"name": "name", "executable_path": "executablePath", "pid": "pid", "user": "user"}
FALCO_PROCESS = {"name": "proc.name", "executable_path": "proc.exepath", "pid": "proc.pid", "user": "user.name",
                 "command_line": "proc.cmdline"}


def process_view(source, keys):
    """`pid` must be a valid count, everything else text; None when nothing is there."""
    proc = {}
    for key, source_key in keys.items():
        put(proc, key, count_of(source.get(source_key)) if key == "pid" else text(source.get(source_key)))
    return proc or None


def view_guardduty(f, env):
    v = {"format": "guardduty"}
    svc = f.get("service") if isinstance(f.get("service"), dict) else {}
    put(v, "id", text(f.get("id")))
    put(v, "title", text(f.get("title")) or text(f.get("type")))
    put(v, "description", text(f.get("description")))
    sid = guardduty_severity_id(f.get("severity"))
    v["severity_id"], v["severity"] = sid, SEVERITY_LABELS[sid]
    v["product"] = "GuardDuty"
    put(v, "type", text(f.get("type")))
    put(v, "account", text(f.get("accountId")) or text(get(env, "account")))
    put(v, "region", text(f.get("region")) or text(get(env, "region")))
    put(v, "time", rfc3339(f.get("updatedAt")) or rfc3339(f.get("createdAt")))
    put(v, "first_seen", rfc3339(svc.get("eventFirstSeen")) or rfc3339(f.get("createdAt")))
    put(v, "last_seen", rfc3339(svc.get("eventLastSeen")) or rfc3339(f.get("updatedAt")))
    v["count"] = first_count(svc.get("count"))
    put(v, "resource", guardduty_resource(f.get("resource")))
    p = get(svc, "runtimeDetails", "process")
    if isinstance(p, dict):
        put(v, "process", process_view(p, GUARDDUTY_PROCESS))
    return v


def view_asff(f, env):
    v = {"format": "asff"}
    put(v, "id", text(f.get("Id")))
    put(v, "title", text(f.get("Title")))
    put(v, "description", text(f.get("Description")))
    sid = asff_severity_id(f.get("Severity"))
    v["severity_id"], v["severity"] = sid, SEVERITY_LABELS[sid]
    arn = text(f.get("ProductArn")) or ""
    product = text(f.get("ProductName")) or text(get(f, "ProductFields", "aws/securityhub/ProductName"))
    if product is None and "product/" in arn:
        product = arn.split("product/", 1)[1].rsplit("/", 1)[-1]
    put(v, "product", product)
    put(v, "type", text(get(f, "Types", 0)))
    put(v, "account", text(f.get("AwsAccountId")))
    arn_region = arn.split(":")[3] if arn.count(":") >= 5 and arn.split(":")[3] else None
    put(v, "region", text(f.get("Region")) or arn_region or text(get(env, "region")))
    put(v, "time", rfc3339(f.get("UpdatedAt")))
    put(v, "first_seen", rfc3339(f.get("FirstObservedAt")) or rfc3339(f.get("CreatedAt")))
    put(v, "last_seen", rfc3339(f.get("LastObservedAt")) or rfc3339(f.get("UpdatedAt")))
    v["count"] = first_count(get(f, "ProductFields", "aws/guardduty/service/count"))
    r = get(f, "Resources", 0)
    if isinstance(r, dict):
        put(v, "resource", resource(r.get("Type"), r.get("Id"), text(get(r, "Tags", "Name")) or last_component(r.get("Id"))))
    return v


def view_ocsf(e, env):
    v = {"format": "ocsf"}
    info = e.get("finding_info") if e.get("class_uid") == 2004 else e.get("finding")
    info = info if isinstance(info, dict) else {}
    put(v, "id", text(info.get("uid")))
    put(v, "title", text(info.get("title")))
    put(v, "description", text(info.get("desc")) or text(e.get("message")))
    sid = ocsf_severity_id(e.get("severity_id"))
    v["severity_id"], v["severity"] = sid, SEVERITY_LABELS[sid]
    put(v, "product", text(get(e, "metadata", "product", "name")))
    put(v, "type", text(get(info, "types", 0)))
    put(v, "account", text(get(e, "cloud", "account", "uid")) or text(get(e, "cloud", "account_uid")))
    put(v, "region", text(get(e, "cloud", "region")))
    put(v, "time", epoch_ms(e.get("time")) or rfc3339(e.get("time_dt")))
    put(v, "first_seen", epoch_ms(info.get("first_seen_time")) or rfc3339(info.get("first_seen_time_dt"))
        or epoch_ms(e.get("start_time")) or v.get("time"))
    put(v, "last_seen", epoch_ms(info.get("last_seen_time")) or rfc3339(info.get("last_seen_time_dt"))
        or epoch_ms(e.get("end_time")) or v.get("time"))
    v["count"] = first_count(e.get("count"))
    r = get(e, "resources", 0)
    if isinstance(r, dict):
        put(v, "resource", resource(r.get("type"), r.get("uid"), r.get("name")))
    return v


def view_falco(e, env):
    v = {"format": "falco"}
    fields = e.get("output_fields") if isinstance(e.get("output_fields"), dict) else {}
    uuid = text(e.get("uuid"))
    v["id"] = uuid if uuid else falco_id(e)
    put(v, "title", text(e.get("rule")))
    put(v, "description", text(e.get("output")))
    sid = falco_severity_id(e.get("priority"))
    v["severity_id"], v["severity"] = sid, SEVERITY_LABELS[sid]
    v["product"] = "Falco"
    put(v, "type", text(e.get("source")))
    t = rfc3339(e.get("time"))
    put(v, "time", t)
    put(v, "first_seen", t)
    put(v, "last_seen", t)
    v["count"] = 1
    pod, ns = text(fields.get("k8s.pod.name")), text(fields.get("k8s.ns.name"))
    audit_name = text(fields.get("ka.target.name")) or text(fields.get("ka.resp.name"))
    cid = text(fields.get("container.id"))
    if pod:
        v["resource"] = resource("KubernetesPod", f"{ns or ''}/{pod}", pod)
    elif audit_name:
        v["resource"] = resource("KubernetesResource", f"{text(fields.get('ka.target.namespace')) or ''}/{audit_name}",
                                 audit_name)
    elif cid and cid != "host":
        v["resource"] = resource("Container", cid, text(fields.get("container.name")) or cid)
    elif text(e.get("hostname")):
        v["resource"] = resource("Host", e["hostname"], e["hostname"])
    put(v, "process", process_view(fields, FALCO_PROCESS))
    return v


VIEWS = {"guardduty": view_guardduty, "asff": view_asff, "ocsf": view_ocsf, "falco": view_falco}


def sluice_views(event):
    """One view per finding of the record (an ASFF or V2 envelope is split), in array order."""
    fmt, findings, env = detect(event)
    views = []
    for i, f in enumerate(findings):
        v = VIEWS[fmt](f if isinstance(f, dict) else {}, env)
        v["via"] = "securityhub" if get(env, "source") == "aws.securityhub" else ""
        v["part"] = {"index": i, "count": len(findings)}
        views.append(v)
    return views


# ---------------------------------------------------------------------------------------------
# Reference OCSF out: any view (+ its raw finding) -> OCSF Detection Finding 2004.

VENDORS = {"guardduty": "AWS", "falco": "Falcosecurity"}


def ocsf_out(view, finding, version=OCSF_OUT_VERSION):
    fmt = view["format"]
    vendor = VENDORS.get(fmt)
    if fmt == "asff":
        vendor = text(finding.get("CompanyName")) or text(get(finding, "ProductFields", "aws/securityhub/CompanyName"))
    elif fmt == "ocsf":
        vendor = text(get(finding, "metadata", "product", "vendor_name"))
    time_ms = view_ms(view["time"]) if "time" in view else 0
    out = {
        "activity_id": 1, "activity_name": "Create",
        "category_uid": 2, "category_name": "Findings",
        "class_uid": 2004, "class_name": "Detection Finding",
        "type_uid": 200401, "type_name": "Detection Finding: Create",
        "severity_id": view["severity_id"], "severity": view["severity"],
        "status_id": 1, "status": "New",
        "time": time_ms,
        "count": view["count"],
        "message": view.get("title", ""),
        "metadata": {
            "version": version,
            "product": {"name": view.get("product") or "unknown", "vendor_name": vendor or "unknown"},
            "log_provider": "sluice",
        },
        "finding_info": {
            "uid": view.get("id", ""),
            "title": view.get("title", ""),
        },
        "unmapped": {"sluice_format": fmt},
    }
    info = out["finding_info"]
    put(info, "desc", view.get("description"))
    if "type" in view:
        info["types"] = [view["type"]]
    info["created_time"] = time_ms
    if "first_seen" in view:
        info["first_seen_time"] = view_ms(view["first_seen"])
    if "last_seen" in view:
        info["last_seen_time"] = view_ms(view["last_seen"])
    if "account" in view or "region" in view:
        out["metadata"]["profiles"] = ["cloud"]
        cloud = {"provider": "AWS" if fmt in ("guardduty", "asff") else
                 text(get(finding, "cloud", "provider")) or "unknown"}
        put(cloud, "region", view.get("region"))
        if "account" in view:
            cloud["account"] = {"uid": view["account"]}
            if fmt in ("guardduty", "asff"):
                cloud["account"].update({"type_id": 10, "type": "AWS Account"})
        out["cloud"] = cloud
    r = view.get("resource")
    if r and ("id" in r or "name" in r):
        res = {}
        put(res, "type", r.get("type"))
        put(res, "uid", r.get("id"))
        put(res, "name", r.get("name"))
        put(res, "region", view.get("region"))
        if r.get("type") == "KubernetesPod":
            res["namespace"] = r["id"].split("/", 1)[0]
        out["resources"] = [res]
    return out


# ---------------------------------------------------------------------------------------------
# Shape checks.

class Checker:
    def __init__(self, strict):
        self.strict = strict
        self.errors, self.warnings, self.counts = [], [], {}
        self.botocore = self._load(lambda: __import__("botocore.session").session.get_session()
                                   .get_service_model("securityhub"), "botocore")
        self.ocsf = self._load(lambda: __import__("ocsf_json_schema"), "ocsf_json_schema")
        self.jsonschema = self._load(lambda: __import__("jsonschema"), "jsonschema")
        self._schemas = {}

    def _load(self, thunk, name):
        try:
            return thunk()
        except Exception:
            (self.errors if self.strict else self.warnings).append(f"{name} not importable: its checks are skipped")
            return None

    def err(self, where, msg):
        self.errors.append(f"{where}: {msg}")

    def count(self, what):
        self.counts[what] = self.counts.get(what, 0) + 1

    # ASFF ------------------------------------------------------------------------------------
    def check_asff(self, name, event):
        if "detail-type" in event:
            self.check_envelope(name, event, ASFF_ENVELOPES)
            findings = event["detail"]["findings"]
            if event["detail-type"] == "Security Hub Findings - Imported" and len(findings) != 1:
                self.err(name, "an Imported event carries exactly one finding (AWS docs); use Custom Action for several")
            if event["detail-type"] == "Security Hub Findings - Custom Action":
                for k in ("actionName", "actionDescription"):
                    if not isinstance(event["detail"].get(k), str):
                        self.err(name, f"Custom Action detail.{k} missing")
                if not str(get(event, "resources", 0)).startswith(f"arn:aws:securityhub:{event['region']}:{event['account']}:action/custom/"):
                    self.err(name, "Custom Action resources[0] must be the action target ARN")
        elif "Findings" in event:
            findings = event["Findings"]
            if set(event) != {"Findings"} or not 1 <= len(findings) <= 100:
                self.err(name, "BatchImportFindings body is {\"Findings\": [1..100 findings]}")
        else:
            findings = [event]
        for i, f in enumerate(findings):
            where = f"{name}[{i}]"
            for k in ASFF_REQUIRED:
                if k not in f:
                    self.err(where, f"required ASFF attribute {k} missing")
            if f.get("SchemaVersion") != "2018-10-08":
                self.err(where, "SchemaVersion must be 2018-10-08")
            sev = f.get("Severity", {})
            if "Label" not in sev and "Normalized" not in sev:
                self.err(where, "Severity needs Label or Normalized")
            if "Label" in sev and "Normalized" in sev:
                n, label = sev["Normalized"], sev["Label"]
                if asff_severity_id({"Normalized": n}) != ASFF_LABELS.get(label):
                    self.err(where, f"Severity.Normalized {n} is not in the band of Label {label}")
            for t in f.get("Types", []):
                if not 1 <= t.count("/") <= 2:
                    self.err(where, f"Types entry {t!r} is not namespace/category[/classifier]")
            for k in ("CreatedAt", "UpdatedAt", "FirstObservedAt", "LastObservedAt", "ProcessedAt"):
                if k in f and rfc3339(f[k]) is None:
                    self.err(where, f"{k} {f[k]!r} is not an ASFF timestamp")
            if not f.get("Resources"):
                self.err(where, "Resources must hold at least one resource")
            if "detail-type" in event and f.get("AwsAccountId") != event["account"] and event["detail-type"].endswith("Imported"):
                self.err(where, "AwsAccountId differs from the envelope account")
            if self.botocore:
                self.walk_botocore(f, self.botocore.shape_for("AwsSecurityFinding"), where)
            self.count("asff findings")

    def walk_botocore(self, value, shape, where):
        t = shape.type_name
        if t == "structure":
            if not isinstance(value, dict):
                return self.err(where, f"expected object ({shape.name})")
            for k in shape.required_members:
                if k not in value:
                    self.err(where, f"{shape.name} requires {k}")
            for k, sub in value.items():
                if k not in shape.members:
                    self.err(f"{where}.{k}", f"not a member of {shape.name} (botocore securityhub model)")
                else:
                    self.walk_botocore(sub, shape.members[k], f"{where}.{k}")
        elif t == "list":
            if not isinstance(value, list):
                return self.err(where, "expected array")
            for i, item in enumerate(value):
                self.walk_botocore(item, shape.member, f"{where}[{i}]")
        elif t == "map":
            if not isinstance(value, dict):
                return self.err(where, "expected object (map)")
            for k, item in value.items():
                self.walk_botocore(item, shape.value, f"{where}.{k}")
        elif t == "string":
            if not isinstance(value, str):
                return self.err(where, f"expected string, got {value!r}")
            enum = shape.enum
            if enum and value not in enum:
                self.err(where, f"{value!r} not in {shape.name} {enum}")
        elif t in ("integer", "long"):
            if not (isinstance(value, int) and not isinstance(value, bool)):
                self.err(where, f"expected integer, got {value!r}")
        elif t in ("double", "float"):
            if not is_number(value):
                self.err(where, f"expected number, got {value!r}")
        elif t == "boolean":
            if not isinstance(value, bool):
                self.err(where, f"expected boolean, got {value!r}")

    # OCSF ------------------------------------------------------------------------------------
    def check_ocsf(self, name, event):
        if "detail-type" in event:
            self.check_envelope(name, event, {OCSF_ENVELOPE})
            findings = event["detail"]["findings"]
            if len(findings) != 1:
                self.err(name, "a Findings Imported V2 event carries exactly one finding (AWS docs)")
        else:
            findings = [event]
        for i, e in enumerate(findings):
            self.validate_ocsf(f"{name}[{i}]", e)
            self.count("ocsf findings")

    def ocsf_schema(self, version, class_uid, profiles):
        key = (version, class_uid, tuple(profiles))
        if key not in self._schemas:
            embedded = self.ocsf.OcsfJsonSchemaEmbedded(self.ocsf.get_ocsf_schema(version=version))
            cls = embedded.lookup_class_name_from_uid(class_uid)
            self._schemas[key] = embedded.get_class_schema(cls, list(profiles))
        return self._schemas[key]

    def validate_ocsf(self, where, e):
        version = get(e, "metadata", "version")
        if e.get("class_uid") not in (2004, 2001):
            return self.err(where, f"class_uid {e.get('class_uid')!r} is neither 2004 nor 2001")
        if e.get("type_uid") != e["class_uid"] * 100 + (e.get("activity_id") or 0):
            self.err(where, "type_uid must be class_uid * 100 + activity_id")
        if not (self.ocsf and self.jsonschema):
            return
        if version not in self.ocsf.get_packaged_versions():
            return self.err(where, f"metadata.version {version!r} is not a packaged OCSF version")
        schema = self.ocsf_schema(version, e["class_uid"], get(e, "metadata", "profiles") or [])
        validator = self.jsonschema.Draft202012Validator(schema, format_checker=self.jsonschema.FormatChecker())
        for problem in sorted(validator.iter_errors(e), key=lambda p: list(map(str, p.path))):
            self.err(f"{where}/{'/'.join(map(str, problem.path))}", f"OCSF {version}: {problem.message[:160]}")
        self.count(f"ocsf validated against schema {version}")

    # Falco -----------------------------------------------------------------------------------
    def check_falco(self, name, e):
        for k, kind in (("rule", str), ("priority", str), ("output", str), ("time", str),
                        ("output_fields", dict), ("source", str)):
            if not isinstance(e.get(k), kind):
                self.err(name, f"Falco field {k} missing or not {kind.__name__}")
        allowed = {"uuid", "rule", "priority", "output", "time", "output_fields", "source", "tags", "hostname"}
        if set(e) - allowed:
            self.err(name, f"keys {sorted(set(e) - allowed)} are not in Falco's / falcosidekick's payload")
        if e.get("priority") not in {p.capitalize() for p in FALCO_PRIORITIES if p != "info"}:
            self.err(name, f"priority {e.get('priority')!r} is not one Falco emits")
        if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", str(e.get("time"))):
            self.err(name, "time must be RFC 3339 UTC with nanoseconds, as Falco writes it")
        if "uuid" in e and not UUID.match(str(e["uuid"])):
            self.err(name, "uuid must be a lowercase RFC 4122 UUID (falcosidekick sets uuid.New())")
        fields = e.get("output_fields", {})
        for k, val in fields.items():
            if not re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)*(\[\d+\])?(\.[a-z0-9_]+)*", k):
                self.err(name, f"output_fields key {k!r} is not a Falco field name")
            if not (val is None or isinstance(val, (str, bool)) or is_number(val) or isinstance(val, list)):
                self.err(name, f"output_fields.{k} has a non-scalar value")
        ev_ns = fields.get("evt.time")
        if isinstance(ev_ns, int) and rfc3339(e.get("time")):
            iso = datetime.fromtimestamp(ev_ns // 10 ** 9, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
            if not e["time"].startswith(iso):
                self.err(name, "output_fields.evt.time disagrees with time")
        prefix = re.match(r"^(\d\d:\d\d:\d\d\.\d{9}): (\w+) ", e.get("output", ""))
        if prefix and (prefix.group(2) != e.get("priority") or prefix.group(1) != str(e.get("time"))[11:29]):
            self.err(name, "output prefix (time, priority) disagrees with time/priority")
        self.count("falco events")

    def check_envelope(self, name, event, detail_types):
        keys = {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
        if set(event) != keys:
            self.err(name, f"envelope keys {sorted(event)} != {sorted(keys)}")
        if event.get("source") != "aws.securityhub" or event.get("detail-type") not in detail_types:
            self.err(name, f"source/detail-type must be aws.securityhub / one of {sorted(detail_types)}")
        if event.get("version") != "0" or not UUID.match(str(event.get("id"))):
            self.err(name, "envelope version must be \"0\" and id a UUID")
        if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", str(event.get("time"))):
            self.err(name, "envelope time must be YYYY-MM-DDTHH:MM:SSZ")
        if not isinstance(get(event, "detail", "findings"), list):
            self.err(name, "detail.findings must be an array")


# Each entry: fixture, a change that breaks its contract, words the checker's error must contain.
SELF_TESTS = [
    ("asff/01-guardduty-ec2-cryptominer.json", lambda e: e["detail"]["findings"][0].pop("Title"), "Title missing"),
    ("asff/01-guardduty-ec2-cryptominer.json",
     lambda e: e["detail"]["findings"][0]["Severity"].update(Normalized=10), "not in the band"),
    ("asff/01-guardduty-ec2-cryptominer.json",
     lambda e: e["detail"]["findings"][0]["Workflow"].update(Status="OPEN"), "not in WorkflowStatus"),
    ("asff/01-guardduty-ec2-cryptominer.json",
     lambda e: e["detail"]["findings"][0]["Network"].update(DestinationPort="3333"), "expected integer"),
    ("asff/02-inspector-ecr-critical-cve.json",
     lambda e: e["detail"]["findings"][0]["Resources"][0]["Details"]["AwsEcrContainerImage"].update(Tag="x"),
     "not a member of AwsEcrContainerImageDetails"),
    ("asff/05-batch-import-third-party.json", lambda e: e["Findings"][0].pop("Resources"), "Resources missing"),
    ("ocsf/04-cspm-detection-low-two-resources-1.6.json", lambda e: e["resources"][0].update(bogus=1),
     "Additional properties"),
    ("ocsf/02-edr-detection-critical-1.1.json", lambda e: e.update(severity_id=7), "is not one of"),
    ("ocsf/02-edr-detection-critical-1.1.json", lambda e: e["metadata"]["product"].pop("vendor_name"),
     "'vendor_name' is a required property"),
    ("ocsf/05-minimal-informational-1.1.json", lambda e: e.update(type_uid=200402), "type_uid"),
    ("ocsf/03-security-finding-2001-fatal-1.0.json", lambda e: e.pop("state_id"), "'state_id' is a required"),
    ("falco/02-host-write-below-binary-dir.json", lambda e: e.update(priority="Info"), "not one Falco emits"),
    ("falco/02-host-write-below-binary-dir.json", lambda e: e.update(time="2025-05-30T11:47:03Z"), "nanoseconds"),
    ("falco/01-k8s-terminal-shell-sidekick.json", lambda e: e.update(uuid="x"), "RFC 4122"),
    ("falco/01-k8s-terminal-shell-sidekick.json", lambda e: e.pop("rule"), "rule missing"),
]


def self_test(checker):
    """Every break in SELF_TESTS must yield an error that names it; returns the failures."""
    failures = []
    for rel, breaks, words in SELF_TESTS:
        probe = Checker(strict=False)
        probe.botocore, probe.ocsf, probe.jsonschema = checker.botocore, checker.ocsf, checker.jsonschema
        event = load(FINDINGS / rel)
        breaks(event)
        {"asff": probe.check_asff, "ocsf": probe.check_ocsf, "falco": probe.check_falco}[rel.split("/")[0]](rel, event)
        if not any(words in e for e in probe.errors):
            failures.append(f"self-test: breaking {rel} should report '{words}', got {probe.errors}")
    return failures


def load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def fixture_files():
    files = sorted(FINDINGS.glob("*.json"))  # the GuardDuty fixtures, for the cross-format view table
    for folder in FORMATS + (HOSTILE,):
        files += sorted((FINDINGS / folder).glob("*.json"))
    return files


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--strict", action="store_true")
    ap.add_argument("--update", action="store_true")
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    checker = Checker(args.strict)

    views = {}
    for path in fixture_files():
        rel = path.relative_to(FINDINGS).as_posix()
        try:
            event = load(path)
        except ValueError as e:
            checker.err(rel, f"invalid JSON: {e}")
            continue
        fmt, findings, _ = detect(event)
        folder = rel.split("/")[0] if "/" in rel else "guardduty"
        if folder == HOSTILE:
            # Out of contract on purpose: no shape checks, but the view must be exactly the expected one.
            if fmt is None or not rel.split("/")[1].startswith(fmt):
                checker.err(rel, f"hostile fixture detected as {fmt!r}; its name must start with its format")
            views[rel] = sluice_views(event)
            continue
        if fmt != folder:
            checker.err(rel, f"detected as {fmt!r}, lives in {folder!r}")
            continue
        if fmt == "asff":
            checker.check_asff(rel, event)
        elif fmt == "ocsf":
            checker.check_ocsf(rel, event)
        elif fmt == "falco":
            checker.check_falco(rel, event)
        views[rel] = sluice_views(event)

    if args.update:
        EXPECTED.write_text(json.dumps(views, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        OCSF_OUT_DIR.mkdir(exist_ok=True)
    elif not EXPECTED.exists():
        checker.err(EXPECTED.name, "missing; run with --update and review it")
    else:
        expected = load(EXPECTED)
        for rel in sorted(set(views) | set(expected)):
            if views.get(rel) != expected.get(rel):
                checker.err(rel, f"reference view {json.dumps(views.get(rel))} != expected-views.json "
                                 f"{json.dumps(expected.get(rel))}")
        checker.count("views compared")

    for rel in OCSF_OUT_SOURCES:
        event = load(FINDINGS / rel)
        _, findings, _ = detect(event)
        doc = ocsf_out(views[rel][0], findings[0])
        out_path = OCSF_OUT_DIR / (rel.replace("/", "-"))
        if args.update:
            out_path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        elif load(out_path) != doc:
            checker.err(out_path.name, "differs from the reference conversion (run --update and review)")
        stored = load(out_path)
        if checker.ocsf and checker.jsonschema:
            for version in sorted(checker.ocsf.get_packaged_versions()):
                if re.fullmatch(r"1\.([1-9]|\d\d)\.\d+", version):
                    copy = json.loads(json.dumps(stored))
                    copy["metadata"]["version"] = version
                    checker.validate_ocsf(f"ocsf-out/{out_path.name}@{version}", copy)

    if args.self_test:
        if not (checker.botocore and checker.ocsf and checker.jsonschema):
            checker.err("self-test", "needs botocore, ocsf_json_schema and jsonschema")
        else:
            checker.errors += self_test(checker)
            checker.counts["self-test breaks tried"] = len(SELF_TESTS)

    for w in checker.warnings:
        print("warning:", w)
    for e in checker.errors:
        print("error:", e)
    summary = ", ".join(f"{n} {what}" for what, n in sorted(checker.counts.items()))
    print(f"{len(views)} files, {len(checker.errors)} errors, {len(checker.warnings)} warnings ({summary})")
    return 1 if checker.errors else 0


if __name__ == "__main__":
    sys.exit(main())

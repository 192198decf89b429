"""ServiceNow Table API contract (incident table).

Checked against ServiceNow's REST API reference ("Table API") and its error format:
- Auth: Basic base64(user:password) or an OAuth access token as Bearer; anything else:
  401 {"error": {"message": "User Not Authenticated", "detail": "Required to provide Auth information"}, "status": "failure"}.
- POST /api/now/table/{table} with a JSON object of column values → 201 {"result": {record}};
  `sysparm_fields` limits the columns returned. A body that is not JSON: 400 "Exception while
  reading request". Content-Type must be application/json.
- GET /api/now/table/{table}?sysparm_query=a=b^c=d&sysparm_limit=N&sysparm_fields=... →
  200 {"result": [records]}.
- PATCH /api/now/table/{table}/{sys_id} with columns (work_notes appends a journal entry) →
  200 {"result": {record}}; an unknown sys_id: 404 "No Record found".
- Column limits of the incident table: short_description 160, correlation_id 100,
  correlation_display 100; urgency and impact are 1, 2 or 3. (The platform truncates or ignores
  silently; a connector that sends such values is in breach, so they are violations here.)
- Setting state to 6 (Resolved) or 7 (Closed) makes the incident inactive.
- Request headers beyond auth, Accept and Content-Type are not part of the contract: the Table
  API ignores a custom header such as Sluice's `X-Sluice-Replay`, so this module accepts it and
  the receiver records it with the request.

options: user + password (Basic) and/or token (Bearer).
store: {"incidents": {sys_id: {record..., "work_notes": [entries]}}, "calls": {...}}
"""
import base64
import json
import re
import uuid

COLUMNS = {"short_description", "description", "urgency", "impact", "category", "subcategory", "assignment_group",
           "caller_id", "correlation_id", "correlation_display", "work_notes", "comments", "state", "priority",
           "contact_type", "cmdb_ci", "business_service", "assigned_to"}
LIMITS = {"short_description": 160, "correlation_id": 100, "correlation_display": 100}


def sn_error(status, message, detail=""):
    return Violation(f"{message}: {detail}" if detail else message, status,
                     json.dumps({"error": {"message": message, "detail": detail}, "status": "failure"}).encode())


def reply(status, obj):
    return status, json.dumps(obj).encode(), [("Content-Type", "application/json")]


def check_auth(req):
    auth = req["headers"].get("authorization", "")
    accepted = []
    if options.get("user"):
        accepted.append("Basic " + base64.b64encode(f"{options['user']}:{options.get('password', '')}".encode()).decode())
    if options.get("token"):
        accepted.append("Bearer " + options["token"])
    if auth not in accepted:
        raise sn_error(401, "User Not Authenticated", "Required to provide Auth information")


def fields_of(record, req):
    wanted = req["query"].get("sysparm_fields", [""])[0]
    if not wanted:
        return {k: v for k, v in record.items() if k != "work_notes"}
    return {k: record.get(k, "") for k in wanted.split(",")}


def check_columns(body):
    if not isinstance(body, dict):
        raise sn_error(400, "Exception while reading request", "The payload is not valid JSON.")
    for k, v in body.items():
        if k not in COLUMNS and not k.startswith("u_"):
            raise sn_error(400, "Invalid column", f"{k} is not a column of incident")
        if k in LIMITS and (not isinstance(v, str) or len(v) > LIMITS[k]):
            raise sn_error(400, "Invalid value", f"{k} must be a string of at most {LIMITS[k]} characters")
        if k in ("urgency", "impact") and str(v) not in ("1", "2", "3"):
            raise sn_error(400, "Invalid value", f"{k} must be 1, 2 or 3")
        if "\n" in str(v) and k == "short_description":
            raise sn_error(400, "Invalid value", "short_description is one line")


def matches(record, query):
    for term in query.split("^"):
        if not term:
            continue
        m = re.fullmatch(r"([a-z_]+)=(.*)", term)
        if not m:
            raise sn_error(400, "Invalid query", f"cannot read '{term}'")
        if str(record.get(m.group(1), "")) != m.group(2):
            return False
    return True


def handle(req, store):
    store.setdefault("incidents", {})
    store.setdefault("calls", {"create": 0, "query": 0, "update": 0})
    m = re.fullmatch(r"/api/now/table/incident(?:/([0-9a-f]{32}))?", req["path"])
    if not m:
        raise sn_error(400, "Requested URI does not represent any resource", req["path"])
    check_auth(req)
    sys_id, method = m.group(1), req["method"]
    if method in ("POST", "PATCH", "PUT") and req["headers"].get("content-type", "").split(";")[0] != "application/json":
        raise sn_error(415, "Unsupported Media Type", "send application/json")
    if method in ("POST", "PATCH", "PUT") and req["json"] is None:
        raise sn_error(400, "Exception while reading request", "The payload is not valid JSON.")
    if sys_id is None and method == "POST":
        body = req["json"]
        check_columns(body)
        if not body.get("short_description"):
            raise sn_error(400, "Missing short_description", "an incident needs a short description")
        store["calls"]["create"] += 1
        n = len(store["incidents"]) + 1
        record = {k: str(v) for k, v in body.items() if k != "work_notes"}
        record.update(sys_id=uuid.uuid4().hex, number=f"INC{10000 + n:07d}", active="true", state="1")
        record["work_notes"] = [body["work_notes"]] if body.get("work_notes") else []
        store["incidents"][record["sys_id"]] = record
        return reply(201, {"result": fields_of(record, req)})
    if sys_id is None and method == "GET":
        query = req["query"].get("sysparm_query", [""])[0]
        limit = int(req["query"].get("sysparm_limit", ["10000"])[0])
        store["calls"]["query"] += 1
        found = [r for r in store["incidents"].values() if matches(r, query)][:limit]
        return reply(200, {"result": [fields_of(r, req) for r in found]})
    if sys_id is not None and method in ("PATCH", "PUT"):
        record = store["incidents"].get(sys_id)
        if record is None:
            raise sn_error(404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval")
        body = req["json"]
        check_columns(body)
        for k, v in body.items():
            if k == "work_notes":
                record["work_notes"].append(v)
            else:
                record[k] = str(v)
        if record.get("state") in ("6", "7", "8"):
            record["active"] = "false"
        store["calls"]["update"] += 1
        return reply(200, {"result": fields_of(record, req)})
    raise sn_error(405, "Method not Supported", f"{method} {req['path']}")

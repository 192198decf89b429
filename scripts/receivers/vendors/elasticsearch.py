"""Elasticsearch / OpenSearch bulk API: POST /_bulk (or /<index>/_bulk), NDJSON.

Contract, from the Elasticsearch reference ("Bulk API", "Index API", "Multi-target syntax" for
index names; "Security: Authentication" for API keys) and OpenSearch's "Bulk" documentation:
- `Content-Type: application/x-ndjson` (Sluice's contract; Elasticsearch also takes
  application/json); the body is action/metadata lines, each `index`, `create` and `update`
  followed by its source line, every line ending with a newline, the last one included
  (otherwise 400 illegal_argument_exception "The bulk request must be terminated by a newline [\\n]").
- An action line is a JSON object with exactly one key (index, create, update, delete) whose
  value holds `_index` (or the path's index) and optionally `_id`; `index` replaces the document
  with that _id (result "updated", _version + 1) or creates it ("created", 201).
- Index names: lowercase, none of \\ / * ? " < > | space , # :, not starting with - _ +,
  at most 255 bytes (invalid_index_name_exception, per item, 400).
- The answer: {"took", "errors", "items": [{"<action>": {"_index", "_id", "_version", "result",
  "_shards", "_seq_no", "_primary_term", "status"}}]} with, for a failed item, "status" and
  "error": {"type", "reason"} instead; a source that is not a JSON object fails its item with
  mapper_parsing_exception (400).
- Authentication: `Authorization: Basic <base64 user:password>` or `Authorization: ApiKey <encoded>`;
  missing or wrong credentials answer 401 security_exception with WWW-Authenticate.

Options: username + password, or api_key (credentials to require; none: open cluster);
reject_ids (comma-separated _ids whose item fails 400 mapper_parsing_exception, as a document
that does not fit the mapping does), busy_ids (_ids whose item fails 429
es_rejected_execution_exception, as when the write thread pool queue is full).
Store: {"indices": {index: {_id: {"_version": n, "_source": document}}}, "requests": n}.
"""
import base64
import json
import random
import string

ACTIONS = ("index", "create", "update", "delete")
BAD_INDEX_CHARS = set('\\/*?"<>| ,#:')


def es_error(status, type_, reason, **extra):
    cause = dict({"type": type_, "reason": reason}, **extra)
    return {"error": {"root_cause": [cause], "type": type_, "reason": reason}, "status": status}


def reply(status, body, headers=()):
    return status, json.dumps(body).encode(), [("Content-Type", "application/json")] + list(headers)


def index_name_problem(name):
    if not name or name in (".", ".."):
        return "must not be empty, '.' or '..'"
    if name != name.lower():
        return "must be lowercase"
    bad = sorted(set(name) & BAD_INDEX_CHARS)
    if bad:
        return f"must not contain the following characters {bad}"
    if name[0] in "-_+":
        return "must not start with '_', '-', or '+'"
    if len(name.encode()) > 255:
        return "index name is too long"
    return None


def check_auth(headers):
    user, password, key = options.get("username"), options.get("password"), options.get("api_key")
    if not user and not key:
        return None
    auth = headers.get("authorization", "")
    ok = False
    if user and auth.startswith("Basic "):
        try:
            ok = base64.b64decode(auth[6:]).decode() == f"{user}:{password}"
        except ValueError:
            ok = False
    if key and auth.startswith("ApiKey "):
        ok = auth[7:] == key
    if ok:
        return None
    reason = "missing authentication credentials for REST request [/_bulk]" if not auth else "unable to authenticate with provided credentials"
    return reply(401, es_error(401, "security_exception", reason),
                 [("WWW-Authenticate", 'Basic realm="security" charset="UTF-8"'), ("WWW-Authenticate", "ApiKey")])


def handle(req, store):
    store.setdefault("indices", {})
    store["requests"] = store.get("requests", 0) + 1
    parts = [p for p in req["path"].split("/") if p]
    if req["method"] not in ("POST", "PUT") or not parts or parts[-1] != "_bulk" or len(parts) > 2:
        raise Violation(f"not the bulk API: {req['method']} {req['path']}", 405,
                        json.dumps(es_error(405, "illegal_argument_exception", "not the bulk API")).encode())
    denied = check_auth(req["headers"])
    if denied:
        return denied
    content_type = req["headers"].get("content-type", "").split(";")[0].strip()
    if content_type != "application/x-ndjson":
        raise Violation(f"Content-Type must be application/x-ndjson, not {content_type!r}", 406,
                        json.dumps({"error": f"Content-Type header [{content_type}] is not supported", "status": 406}).encode())
    path_index = parts[0] if len(parts) == 2 else None
    body = req["body"].decode("utf-8")
    if not body.endswith("\n"):
        raise Violation("the bulk body does not end with a newline", 400, json.dumps(
            es_error(400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]")).encode())
    lines = body.split("\n")[:-1]
    reject = {i for i in options.get("reject_ids", "").split(",") if i}
    busy = {i for i in options.get("busy_ids", "").split(",") if i}
    items, errors, i = [], False, 0
    while i < len(lines):
        try:
            action = json.loads(lines[i])
        except ValueError:
            raise Violation(f"line {i + 1} is not JSON", 400, json.dumps(
                es_error(400, "x_content_parse_exception", f"[{i + 1}:1] Unexpected character")).encode())
        if not isinstance(action, dict) or len(action) != 1 or next(iter(action)) not in ACTIONS:
            raise Violation(f"line {i + 1} is not an action line: {lines[i][:80]}", 400, json.dumps(
                es_error(400, "illegal_argument_exception", f"Malformed action/metadata line [{i + 1}]")).encode())
        op, meta = next(iter(action.items()))
        i += 1
        source_line = None
        if op != "delete":
            if i >= len(lines):
                raise Violation(f"action on line {i} has no source line", 400, json.dumps(
                    es_error(400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]")).encode())
            source_line = lines[i]
            i += 1
        index = meta.get("_index") or path_index
        doc_id = meta.get("_id") or "".join(random.choices(string.ascii_letters + string.digits, k=20))
        result = {"_index": index, "_id": doc_id}
        problem = index_name_problem(index or "")
        try:
            source = json.loads(source_line) if source_line is not None else None
        except ValueError:
            source = None
        if problem:
            result.update(status=400, error={"type": "invalid_index_name_exception", "reason": f"Invalid index name [{index}], {problem}", "index": index})
        elif op != "delete" and not isinstance(source, dict):
            result.update(status=400, error={"type": "mapper_parsing_exception", "reason": "failed to parse: the document is not a JSON object"})
        elif doc_id in reject:
            result.update(status=400, error={"type": "mapper_parsing_exception", "reason": "failed to parse field [detail.service.count] of type [long] in document with id '%s'" % doc_id})
        elif doc_id in busy:
            result.update(status=429, error={"type": "es_rejected_execution_exception", "reason": "rejected execution of coordinating operation"})
        elif op in ("index", "create"):
            docs = store["indices"].setdefault(index, {})
            existing = docs.get(doc_id)
            if existing and op == "create":
                result.update(status=409, error={"type": "version_conflict_engine_exception", "reason": f"[{doc_id}]: version conflict, document already exists"})
            else:
                version = existing["_version"] + 1 if existing else 1
                docs[doc_id] = {"_version": version, "_source": source}
                seq = sum(len(d) for d in store["indices"].values())
                result.update(_version=version, result="updated" if existing else "created",
                              _shards={"total": 2, "successful": 1, "failed": 0}, _seq_no=seq, _primary_term=1,
                              status=200 if existing else 201)
        else:
            raise Violation(f"Sluice sends only index actions, got {op}", 400, json.dumps(es_error(400, "illegal_argument_exception", op)).encode())
        errors = errors or "error" in result
        items.append({op: result})
    return reply(200, {"took": 3, "errors": errors, "items": items})

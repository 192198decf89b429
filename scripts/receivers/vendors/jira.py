"""Jira REST contract: Cloud (REST v3) and Data Center / Server (REST v2).

Checked against Atlassian's documentation:
- Cloud auth: Basic base64(email:api_token) ("Basic auth for REST APIs"); Data Center: Bearer
  personal access token ("Using Personal Access Tokens"). Anything else: 401.
- Create issue, POST /rest/api/{3|2}/issue: `fields.project` ({key} or {id}), `fields.issuetype`
  ({name} or {id}) and `fields.summary` are required; the summary is at most 255 characters and
  one line. On Cloud (v3) `description` and comment bodies are Atlassian Document Format
  ({"type":"doc","version":1,"content":[...]}, no empty text nodes); on v2 they are strings
  (wiki text). Labels cannot contain spaces. 201 {"id","key","self"}.
- Errors: {"errorMessages": [...], "errors": {"field": "message"}}.
- Search: Cloud has POST and GET /rest/api/3/search/jql ({"jql","fields","maxResults"}) and
  answers {"issues": [...], "isLast": true}; the old /rest/api/3/search was removed (410).
  Data Center: POST or GET /rest/api/2/search, answering {"startAt","maxResults","total","issues"}.
- Comment: POST /rest/api/{v}/issue/{key}/comment {"body": ...} → 201; unknown issue → 404.
- Transitions: GET /rest/api/{v}/issue/{key}/transitions, POST {"transition": {"id"}} → 204.
- Request headers beyond auth and content type are not part of the contract: Jira ignores a
  custom header such as Sluice's `X-Sluice-Replay`, so this module accepts it and the receiver
  records it with the request.

options: flavor (cloud|datacenter), email + token (cloud) or token (datacenter), projects
(comma-separated keys, default SEC), issue_types (default Task,Bug,Incident).

store: {"issues": {KEY: {"fields": {...}, "labels": [...], "status": name, "comments": [body]}},
        "calls": {"create": n, "search": n, "comment": n, "transition": n}}
"""
import base64
import json
import re

TRANSITIONS = [
    {"id": "11", "name": "To Do", "to": {"name": "To Do", "statusCategory": {"key": "new"}}},
    {"id": "21", "name": "In Progress", "to": {"name": "In Progress", "statusCategory": {"key": "indeterminate"}}},
    {"id": "31", "name": "Done", "to": {"name": "Done", "statusCategory": {"key": "done"}}},
    {"id": "41", "name": "Reopen", "to": {"name": "Reopened", "statusCategory": {"key": "new"}}},
]
CATEGORY = {t["to"]["name"]: t["to"]["statusCategory"]["key"] for t in TRANSITIONS}


def jira_error(status, messages=(), errors=None):
    return Violation("; ".join(list(messages) + [f"{k}: {v}" for k, v in (errors or {}).items()]), status,
                     json.dumps({"errorMessages": list(messages), "errors": errors or {}}).encode())


def reply(status, obj=None):
    return status, (json.dumps(obj).encode() if obj is not None else b""), [("Content-Type", "application/json")] if obj is not None else []


def check_auth(req, flavor):
    auth = req["headers"].get("authorization", "")
    if flavor == "cloud":
        expected = "Basic " + base64.b64encode(f"{options.get('email', '')}:{options.get('token', '')}".encode()).decode()
    else:
        expected = "Bearer " + options.get("token", "")
    if auth != expected:
        raise jira_error(401, ["Client must be authenticated to access this resource."])


def check_adf(node, path="description"):
    """Atlassian Document Format: a doc of block nodes, inline text nodes with non-empty text."""
    if not isinstance(node, dict) or node.get("type") != "doc" or node.get("version") != 1 or not isinstance(node.get("content"), list):
        raise jira_error(400, [], {path: "Operation value must be an Atlassian Document (see the Atlassian Document Format)"})

    def walk(n):
        if not isinstance(n, dict) or "type" not in n:
            raise jira_error(400, ["INVALID_INPUT"], {path: "ADF node without a type"})
        t = n["type"]
        if t == "text":
            if not isinstance(n.get("text"), str) or n["text"] == "":
                raise jira_error(400, ["INVALID_INPUT"], {path: "ADF text nodes need non-empty text"})
            for m in n.get("marks", []):
                if m.get("type") not in ("link", "strong", "em", "code") or (m["type"] == "link" and not m.get("attrs", {}).get("href")):
                    raise jira_error(400, ["INVALID_INPUT"], {path: f"bad mark {m}"})
        elif t == "hardBreak":
            pass
        elif t in ("paragraph", "heading", "bulletList", "listItem", "codeBlock"):
            for c in n.get("content", []):
                walk(c)
        else:
            raise jira_error(400, ["INVALID_INPUT"], {path: f"unknown ADF node type {t}"})

    for block in node["content"]:
        if block.get("type") in ("text", "hardBreak"):
            raise jira_error(400, ["INVALID_INPUT"], {path: "inline node at the top level of a doc"})
        walk(block)


def check_body_text(value, flavor, path):
    if flavor == "cloud":
        check_adf(value, path)
    elif not isinstance(value, str):
        raise jira_error(400, [], {path: "Operation value must be a string"})


def parse_jql(jql):
    """The JQL subset a connector should send: labels = "x" [AND statusCategory != Done]
    [AND status NOT IN ("a", ...)] [ORDER BY created DESC]."""
    m = re.fullmatch(r'labels = "((?:[^"\\]|\\.)*)"'
                     r'( AND statusCategory != Done)?'
                     r'( AND status NOT IN \(((?:"(?:[^"\\]|\\.)*"(?:, )?)+)\))?'
                     r'( ORDER BY created DESC)?', jql or "")
    if not m:
        raise jira_error(400, [f"Error in the JQL Query: cannot read '{jql}'"])
    excluded = re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(4) or "")
    return m.group(1), bool(m.group(2)), excluded


def search(req, store, flavor):
    if req["method"] == "POST":
        body = req["json"]
        if not isinstance(body, dict) or "jql" not in body:
            raise jira_error(400, ["Invalid request payload. Refer to the REST API documentation and try again."])
        if flavor == "cloud" and "startAt" in body:
            raise jira_error(400, ["Invalid request payload. Refer to the REST API documentation and try again."])
        jql, limit = body["jql"], int(body.get("maxResults", 50))
    else:
        jql, limit = req["query"].get("jql", [""])[0], int(req["query"].get("maxResults", ["50"])[0])
    label, open_only, excluded = parse_jql(jql)
    store["calls"]["search"] += 1
    found = []
    for key, issue in sorted(store["issues"].items(), key=lambda kv: -kv[1]["seq"]):
        if label not in issue["labels"]:
            continue
        if open_only and CATEGORY[issue["status"]] == "done":
            continue
        if issue["status"] in excluded:
            continue
        found.append({"id": issue["id"], "key": key, "fields": {"status": {
            "name": issue["status"], "statusCategory": {"key": CATEGORY[issue["status"]]}}}})
    found = found[:limit]
    if flavor == "cloud":
        return reply(200, {"issues": found, "isLast": True})
    return reply(200, {"startAt": 0, "maxResults": limit, "total": len(found), "issues": found})


def create(req, store, flavor, version):
    body = req["json"]
    if req["headers"].get("content-type", "").split(";")[0] != "application/json":
        raise jira_error(415, ["Unsupported media type: send application/json"])
    if not isinstance(body, dict) or not isinstance(body.get("fields"), dict):
        raise jira_error(400, ["Invalid request payload: no fields"])
    f = body["fields"]
    errors = {}
    projects = options.get("projects", "SEC").split(",")
    project = f.get("project")
    if not isinstance(project, dict) or project.get("key") not in projects:
        errors["project"] = "Specify a valid project ID or key"
    issue_types = options.get("issue_types", "Task,Bug,Incident").split(",")
    issuetype = f.get("issuetype")
    if not isinstance(issuetype, dict) or issuetype.get("name") not in issue_types:
        errors["issuetype"] = "Specify an issue type"
    summary = f.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        errors["summary"] = "You must specify a summary of the issue."
    elif len(summary) > 255:
        errors["summary"] = "Summary must be less than 255 characters."
    elif "\n" in summary or "\r" in summary:
        errors["summary"] = "The summary is invalid because it contains newline characters."
    labels = f.get("labels", [])
    if not isinstance(labels, list) or any(not isinstance(l, str) or " " in l or not l for l in labels):
        errors["labels"] = "The label contains spaces which is invalid."
    if errors:
        raise jira_error(400, [], errors)
    if "description" in f:
        check_body_text(f["description"], flavor, "description")
    store["seq"] += 1
    n = store["seq"]
    key = f"{project['key']}-{n}"
    store["issues"][key] = {"id": str(10000 + n), "seq": n, "fields": f, "labels": labels, "status": "To Do", "comments": []}
    store["calls"]["create"] += 1
    return reply(201, {"id": str(10000 + n), "key": key, "self": f"http://jira.local/rest/api/{version}/issue/{10000 + n}"})


def handle(req, store):
    flavor = options.get("flavor", "cloud")
    version = "3" if flavor == "cloud" else "2"
    store.setdefault("issues", {})
    store.setdefault("seq", 0)
    store.setdefault("calls", {"create": 0, "search": 0, "comment": 0, "transition": 0})
    path, method = req["path"], req["method"]
    m = re.fullmatch(r"/rest/api/(\d)(/.*)", path)
    if not m:
        raise jira_error(404, [f"No resource at {path}"])
    if m.group(1) != version:
        raise jira_error(404, [f"{'Jira Cloud' if flavor == 'cloud' else 'Jira Data Center'} expects REST API v{version}, not v{m.group(1)}"])
    check_auth(req, flavor)
    rest = m.group(2)
    if rest == "/issue" and method == "POST":
        return create(req, store, flavor, version)
    if flavor == "cloud" and rest == "/search":
        raise jira_error(410, ["The requested API has been removed. Please migrate to the /rest/api/3/search/jql API."])
    if rest == ("/search/jql" if flavor == "cloud" else "/search") and method in ("GET", "POST"):
        return search(req, store, flavor)
    m = re.fullmatch(r"/issue/([A-Z][A-Z0-9_]*-\d+)/(comment|transitions)", rest)
    if m:
        key, what = m.groups()
        issue = store["issues"].get(key)
        if issue is None:
            raise jira_error(404, ["Issue does not exist or you do not have permission to see it."])
        if what == "comment" and method == "POST":
            body = req["json"]
            if not isinstance(body, dict) or "body" not in body:
                raise jira_error(400, [], {"comment": "Comment body can not be empty!"})
            check_body_text(body["body"], flavor, "comment")
            issue["comments"].append(body["body"])
            store["calls"]["comment"] += 1
            return reply(201, {"id": str(len(issue["comments"])), "body": body["body"]})
        if what == "transitions" and method == "GET":
            current = issue["status"]
            return reply(200, {"transitions": [t for t in TRANSITIONS if t["to"]["name"] != current]})
        if what == "transitions" and method == "POST":
            tid = ((req["json"] or {}).get("transition") or {}).get("id")
            t = next((t for t in TRANSITIONS if t["id"] == tid), None)
            if t is None:
                raise jira_error(400, [f"Transition id '{tid}' is not valid for this issue."])
            issue["status"] = t["to"]["name"]
            store["calls"]["transition"] += 1
            return 204, b"", []
    raise jira_error(405 if rest.startswith("/issue") else 404, [f"{method} {path} is not supported"])

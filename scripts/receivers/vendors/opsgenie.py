"""Opsgenie Alert API: create alert.

Contract checked (docs.opsgenie.com, "Alert API" → Create Alert, "Authentication",
"Response" and "Rate Limiting"; "Alerts and alert fields" for de-duplication):
- POST /v2/alerts, Content-Type application/json, `Authorization: GenieKey <api key>`.
- `message` required, at most 130 characters; `alias` at most 512; `description` at most 15000;
  `responders`/`visibleTo` arrays; `actions` at most 10; `tags` at most 20 of at most 50 characters;
  `details` an object of string values (at most 8000 characters in total); `entity` at most 512;
  `source` at most 100; `priority` P1 to P5 (default P3); `user` at most 100; `note` at most 25000.
- The request is processed asynchronously: 202 {"result":"Request will be processed","took":…,
  "requestId":…}. An alert with the alias of an open alert is de-duplicated: no new alert, the
  open one's `count` goes up.
- Errors: {"message","took","requestId"} — 401 "Could not authenticate" (no or unknown key),
  422 "Request body is not processable. Please check the errors." with "errors" {field: reason},
  429 when throttled (with X-RateLimit-State: THROTTLED and X-RateLimit-Period-In-Sec).

Options: api_key (the valid key; default any).
Store: {"alerts": {alias: {"message", "priority", "count", "tags", "details", "source", "entity", "description", "status"}}}.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _contract import is_json, json_object, new_id, text, too_long  # noqa: E402

LIMITS = {"message": 130, "alias": 512, "description": 15000, "entity": 512, "source": 100, "user": 100, "note": 25000}


def answer(status, message, **extra):
    body = {"message": message, **extra, "took": 0.002, "requestId": new_id(32)}
    return status, json.dumps(body).encode(), [("Content-Type", "application/json")]


def problems_of(alert):
    errors = {}
    if not text(alert.get("message")):
        errors["message"] = "Message can not be empty."
    for field, limit in LIMITS.items():
        if field in alert and (not isinstance(alert[field], str) or too_long(alert[field], limit)):
            errors[field] = f"{field} must be a string of at most {limit} characters"
    if "priority" in alert and alert["priority"] not in ("P1", "P2", "P3", "P4", "P5"):
        errors["priority"] = "Priority should be one of [P1, P2, P3, P4, P5]"
    tags = alert.get("tags", [])
    if not isinstance(tags, list) or len(tags) > 20 or any(not isinstance(t, str) or not t or len(t) > 50 for t in tags):
        errors["tags"] = "at most 20 tags of 1 to 50 characters"
    details = alert.get("details", {})
    if not isinstance(details, dict) or any(not isinstance(v, str) for v in details.values()):
        errors["details"] = "details must be an object of string values"
    elif sum(len(k) + len(v) for k, v in details.items()) > 8000:
        errors["details"] = "details are limited to 8000 characters"
    return errors


def handle(req, store):
    if req["method"] != "POST" or req["path"] != "/v2/alerts":
        raise Violation(f"{req['method']} {req['path']} is not Create Alert", 404, json.dumps({"message": "Not Found"}).encode())  # noqa: F821
    auth = req["headers"].get("authorization", "")
    if not auth.startswith("GenieKey ") or not auth[len("GenieKey "):].strip():
        raise Violation("Authorization must be 'GenieKey <key>'", 401, answer(401, "Could not authenticate")[1])  # noqa: F821
    if options.get("api_key") and auth != "GenieKey " + options["api_key"]:  # noqa: F821
        return answer(401, "Could not authenticate")
    alert = json_object(req)
    if not is_json(req) or alert is None:
        raise Violation("body is not a JSON object sent as application/json", 422, answer(422, "Request body is not processable. Please check the errors.", errors={"body": "not JSON"})[1])  # noqa: F821
    errors = problems_of(alert)
    if errors:
        raise Violation("; ".join(f"{k}: {v}" for k, v in errors.items()), 422,  # noqa: F821
                        answer(422, "Request body is not processable. Please check the errors.", errors=errors)[1])
    alerts = store.setdefault("alerts", {})
    alias = alert.get("alias") or alert["message"]  # Opsgenie defaults the alias to the message
    now = int(time.time() * 1000)
    existing = alerts.get(alias)
    if existing is not None and existing["status"] == "open":
        existing["count"] += 1
        existing["lastOccurredAt"] = now
    else:
        alerts[alias] = {"message": alert["message"], "priority": alert.get("priority", "P3"), "count": 1, "status": "open",
                         "tags": alert.get("tags", []), "details": alert.get("details", {}), "source": alert.get("source"),
                         "entity": alert.get("entity"), "description": alert.get("description"), "createdAt": now, "lastOccurredAt": now}
    body = json.dumps({"result": "Request will be processed", "took": 0.107, "requestId": new_id(32)}).encode()
    return 202, body, [("Content-Type", "application/json")]

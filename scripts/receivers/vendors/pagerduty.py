"""PagerDuty Events API v2: send an alert event.

Contract checked (developer.pagerduty.com, "Events API v2 Overview", "Send Alert Event",
api-reference "Send an event to PagerDuty"; PD-CEF field list):
- POST /v2/enqueue, Content-Type application/json. No auth header: the `routing_key` in the body
  (the integration key: 32 characters, alphanumeric) is the credential.
- `event_action`: trigger, acknowledge or resolve. `dedup_key` at most 255 characters; required for
  acknowledge and resolve; a trigger without one gets a generated key. A trigger with the dedup
  key of an open alert updates that alert (no new incident).
- trigger needs `payload` with `summary` (1 to 1024 characters), `source` (non-empty) and
  `severity` (critical, error, warning, info); optional `timestamp` (ISO 8601), `component`,
  `group`, `class`, `custom_details` (object); top level optional `images`, `links`
  ([{href, text}]), `client`, `client_url`.
- Success: 202 {"status":"success","message":"Event processed","dedup_key":…}. Invalid: 400
  {"status":"invalid event","message":"Event object is invalid","errors":[…]} (e.g. "Length of
  'routing_key' is incorrect (should be 32 characters)"); an unknown integration key: 400 with
  errors ["Invalid routing key"]. 429 when throttled.

Options: routing_key (the valid key; default any well-formed key).
Store: {"incidents": {dedup_key: {"status", "summary", "severity", "source", "events", "component", "group", "class",
        "custom_details", "links"}}, "events": N}.
"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _contract import is_json, json_object, new_id, text, too_long  # noqa: E402

SEVERITIES = {"critical", "error", "warning", "info"}
ISO8601 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$")


def invalid(errors):
    return json.dumps({"status": "invalid event", "message": "Event object is invalid", "errors": errors}).encode()


def problems_of(event):
    out = []
    key = event.get("routing_key")
    if not isinstance(key, str) or len(key) != 32:
        out.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    elif not key.isalnum():
        out.append("'routing_key' cannot contain non-alphanumeric characters.")
    action = event.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve"):
        out.append("'event_action' is missing or blank" if not action else f"'event_action' is invalid: {action}")
    if "dedup_key" in event and (not text(event["dedup_key"]) or too_long(event["dedup_key"], 255)):
        out.append("'dedup_key' must be 1 to 255 characters")
    if action in ("acknowledge", "resolve") and not text(event.get("dedup_key")):
        out.append("'dedup_key' is required for acknowledge and resolve")
    if action == "trigger":
        p = event.get("payload")
        if not isinstance(p, dict):
            return out + ["'payload' is missing or blank"]
        if not text(p.get("summary")):
            out.append("'payload.summary' is missing or blank")
        elif too_long(p["summary"], 1024):
            out.append("'payload.summary' is longer than 1024 characters")
        if not text(p.get("source")):
            out.append("'payload.source' is missing or blank")
        if p.get("severity") not in SEVERITIES:
            out.append("'payload.severity' must be one of critical, error, warning or info")
        if "timestamp" in p and not ISO8601.match(text(p["timestamp"])):
            out.append("'payload.timestamp' is not a valid ISO 8601 timestamp")
        if "custom_details" in p and not isinstance(p["custom_details"], dict):
            out.append("'payload.custom_details' must be an object")
        for link in event.get("links", []):
            if not text(link.get("href")):
                out.append("each of 'links' needs href")
    return out


def handle(req, store):
    if req["method"] != "POST" or req["path"] != "/v2/enqueue":
        raise Violation(f"{req['method']} {req['path']} is not the Events API v2 endpoint", 404, b'{"status":"Not Found"}')  # noqa: F821
    event = json_object(req)
    if not is_json(req) or event is None:
        raise Violation("body is not a JSON object sent as application/json", 400, invalid(["Event object is not JSON"]))  # noqa: F821
    problems = problems_of(event)
    if problems:
        raise Violation("; ".join(problems), 400, invalid(problems))  # noqa: F821
    if options.get("routing_key") and event["routing_key"] != options["routing_key"]:  # noqa: F821
        return 400, invalid(["Invalid routing key"]), [("Content-Type", "application/json")]
    store["events"] = store.get("events", 0) + 1
    incidents = store.setdefault("incidents", {})
    dedup_key = event.get("dedup_key") or new_id(32)
    action = event["event_action"]
    incident = incidents.get(dedup_key)
    if action == "trigger":
        p = event["payload"]
        if incident is None or incident["status"] == "resolved":
            incident = incidents[dedup_key] = {"status": "triggered", "events": 0}
        incident.update({"summary": p["summary"], "severity": p["severity"], "source": p["source"],
                         "component": p.get("component"), "group": p.get("group"), "class": p.get("class"),
                         "timestamp": p.get("timestamp"), "custom_details": p.get("custom_details"),
                         "links": event.get("links", []), "client": event.get("client")})
        incident["events"] += 1
    elif incident is not None:
        incident["status"] = "acknowledged" if action == "acknowledge" else "resolved"
        incident["events"] += 1
    body = json.dumps({"status": "success", "message": "Event processed", "dedup_key": dedup_key}).encode()
    return 202, body, [("Content-Type", "application/json")]

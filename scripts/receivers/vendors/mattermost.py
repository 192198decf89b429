"""Mattermost incoming webhooks.

Contract checked (developers.mattermost.com, "Incoming webhooks" and "Message attachments"):
- POST /hooks/<key>, Content-Type application/json, body with `text` and/or `attachments`;
  optional `channel`, `username`, `icon_url`, `icon_emoji`, `props` (an object; e.g.
  `disable_group_highlight`), `type`.
- An attachment: `fallback` (required plain-text summary), `color` (hex, or good/warning/danger),
  `pretext`, `text`, `author_*`, `title`, `title_link`, `fields` [{title, value, short}],
  `image_url`, `thumb_url`, `footer`, `footer_icon`.
- `text` is at most 16383 characters (MaxPostSize); longer messages are split by the server.
- Success: 200, body `ok` (text/plain). Errors are JSON AppErrors
  {"id","message","detailed_error","request_id","status_code"}: 400 web.incoming_webhook.invalid
  (unknown hook), 400 web.incoming_webhook.text.app_error (no text and no attachments),
  400 web.incoming_webhook.parse.app_error (not JSON).

Options: hook (the valid key; default any).
Store: {"posts": [{"hook", "text", "channel", "username", "attachments": [{title, color, fields}]}]}.
"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _contract import is_json, json_object, new_id, text, too_long  # noqa: E402

PATH = re.compile(r"^/hooks/([a-z0-9]+)$")
COLOR = re.compile(r"^(#[0-9A-Fa-f]{6}|#[0-9A-Fa-f]{3}|good|warning|danger)$")


def app_error(error_id, message):
    return json.dumps({"id": error_id, "message": message, "detailed_error": "", "request_id": new_id(26), "status_code": 400}).encode()


def handle(req, store):
    m = PATH.match(req["path"])
    if req["method"] != "POST" or not m:
        raise Violation(f"{req['method']} {req['path']} is not an incoming webhook", 404, app_error("api.context.404.app_error", "Sorry, we could not find the page."))  # noqa: F821
    if options.get("hook") and m.group(1) != options["hook"]:  # noqa: F821
        return 400, app_error("web.incoming_webhook.invalid.app_error", "Invalid webhook."), [("Content-Type", "application/json")]
    body = json_object(req)
    if not is_json(req) or body is None:
        raise Violation("body is not a JSON object sent as application/json", 400, app_error("web.incoming_webhook.parse.app_error", "Unable to parse incoming data."))  # noqa: F821
    attachments = body.get("attachments")
    if not text(body.get("text")) and not attachments:
        raise Violation("no text and no attachments", 400, app_error("web.incoming_webhook.text.app_error", "No text specified."))  # noqa: F821
    problems = []
    if "props" in body and not isinstance(body["props"], dict):
        problems.append("props must be an object")
    if too_long(body.get("text"), 16383):
        problems.append("text is over 16383 characters")
    if attachments is not None and not isinstance(attachments, list):
        problems.append("attachments must be an array")
        attachments = []
    for i, a in enumerate(attachments or []):
        if not text(a.get("fallback")):
            problems.append(f"attachments[{i}] has no fallback")
        if "color" in a and not COLOR.match(text(a.get("color"))):
            problems.append(f"attachments[{i}].color {a.get('color')!r} is not a hex colour")
        for j, f in enumerate(a.get("fields") or []):
            if not isinstance(f.get("title"), str) or "value" not in f or not isinstance(f.get("short", False), bool):
                problems.append(f"attachments[{i}].fields[{j}] needs title, value and a boolean short")
    if problems:
        raise Violation("; ".join(problems), 400, app_error("web.incoming_webhook.parse.app_error", "; ".join(problems)))  # noqa: F821
    store.setdefault("posts", []).append({
        "hook": m.group(1), "text": text(body.get("text")), "channel": body.get("channel"), "username": body.get("username"),
        "props": body.get("props"),
        "attachments": [{"title": a.get("title"), "color": a.get("color"), "fields": {f["title"]: f["value"] for f in a.get("fields") or []}}
                        for a in attachments or []]})
    return 200, b"ok", [("Content-Type", "text/plain")]

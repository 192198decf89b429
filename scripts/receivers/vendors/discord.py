"""Discord: Execute Webhook.

Contract checked (discord.com/developers/docs, resources/webhook "Execute Webhook",
resources/message "Embed Object" and "Embed Limits", topics/rate-limits):
- POST /api/webhooks/<id>/<token> (also /api/v<N>/webhooks/…), Content-Type application/json,
  optional query `wait` (true: answer 200 with the message object; else 204 No Content) and
  `thread_id`.
- The body needs one of `content`, `embeds` (or files, components, poll). `content` at most 2000
  characters; at most 10 embeds; an embed's `color` is an integer (decimal RGB), `title` at most
  256, `description` at most 4096, at most 25 `fields` each with a non-empty `name` (at most 256)
  and `value` (at most 1024), `footer.text` at most 2048, `author.name` at most 256, and all of
  those together at most 6000 characters across the message's embeds; `timestamp` ISO 8601.
- Errors: {"message","code"} — 400 code 50006 "Cannot send an empty message", 400 code 50035
  "Invalid Form Body" (with "errors"), 401 code 50027 "Invalid Webhook Token", 404 code 10015
  "Unknown Webhook". 429: {"message":"You are being rate limited.","retry_after":<seconds, float>,
  "global":false} with a Retry-After header.

Options: webhook_id, webhook_token (the valid pair; default any).
Store: {"messages": [{"id", "webhook_id", "content", "embeds": [{title, color, fields, footer}]}]}.
"""
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _contract import is_json, json_object, text, too_long  # noqa: E402

PATH = re.compile(r"^/api(?:/v\d+)?/webhooks/(\d+)/([A-Za-z0-9_-]+)$")
ISO8601 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$")


def error(status, code, message, errors=None):
    body = {"message": message, "code": code}
    if errors:
        body["errors"] = errors
    return status, json.dumps(body).encode(), [("Content-Type", "application/json")]


def embed_problems(embeds):
    if not isinstance(embeds, list):
        return ["embeds must be an array"]
    out = []
    if len(embeds) > 10:
        out.append(f"{len(embeds)} embeds (at most 10)")
    total = 0
    for i, e in enumerate(embeds):
        if "color" in e and not (isinstance(e["color"], int) and 0 <= e["color"] <= 0xFFFFFF):
            out.append(f"embeds[{i}].color must be an integer RGB value")
        for key, limit in (("title", 256), ("description", 4096)):
            if key in e and (not text(e[key]) or too_long(e[key], limit)):
                out.append(f"embeds[{i}].{key} must be 1 to {limit} characters")
        if "url" in e and not text(e["url"]).startswith(("http://", "https://")):
            out.append(f"embeds[{i}].url is not a URL")
        if "timestamp" in e and not ISO8601.match(text(e["timestamp"])):
            out.append(f"embeds[{i}].timestamp is not ISO 8601")
        fields = e.get("fields") or []
        if len(fields) > 25:
            out.append(f"embeds[{i}] has {len(fields)} fields (at most 25)")
        for j, f in enumerate(fields):
            if not text(f.get("name")) or too_long(f.get("name"), 256) or not text(f.get("value")) or too_long(f.get("value"), 1024):
                out.append(f"embeds[{i}].fields[{j}] needs a name of 1 to 256 and a value of 1 to 1024 characters")
        footer, author = e.get("footer") or {}, e.get("author") or {}
        if too_long(footer.get("text"), 2048) or too_long(author.get("name"), 256):
            out.append(f"embeds[{i}] footer or author too long")
        total += sum(len(text(x)) for x in (e.get("title"), e.get("description"), footer.get("text"), author.get("name")))
        total += sum(len(text(f.get("name"))) + len(text(f.get("value"))) for f in fields)
    if total > 6000:
        out.append(f"embeds total {total} characters (at most 6000)")
    return out


def handle(req, store):
    m = PATH.match(req["path"])
    if req["method"] != "POST" or not m:
        raise Violation(f"{req['method']} {req['path']} is not Execute Webhook", 404, json.dumps({"message": "404: Not Found", "code": 0}).encode())  # noqa: F821
    webhook_id, token = m.groups()
    if options.get("webhook_id") and webhook_id != options["webhook_id"]:  # noqa: F821
        return error(404, 10015, "Unknown Webhook")
    if options.get("webhook_token") and token != options["webhook_token"]:  # noqa: F821
        return error(401, 50027, "Invalid Webhook Token")
    body = json_object(req)
    if not is_json(req) or body is None:
        raise Violation("body is not a JSON object sent as application/json", 400, json.dumps({"message": "Cannot send an empty message", "code": 50006}).encode())  # noqa: F821
    if not text(body.get("content")) and not body.get("embeds"):
        raise Violation("no content and no embeds", 400, json.dumps({"message": "Cannot send an empty message", "code": 50006}).encode())  # noqa: F821
    problems = embed_problems(body.get("embeds") or [])
    if too_long(body.get("content"), 2000):
        problems.append("content is over 2000 characters")
    if problems:
        raise Violation("; ".join(problems), 400, json.dumps({"message": "Invalid Form Body", "code": 50035, "errors": problems}).encode())  # noqa: F821
    message_id = str(int(time.time() * 1000) << 22)
    message = {"id": message_id, "type": 0, "channel_id": "1100000000000000000", "webhook_id": webhook_id,
               "content": text(body.get("content")), "embeds": body.get("embeds") or [], "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())}
    store.setdefault("messages", []).append({
        "id": message_id, "webhook_id": webhook_id, "content": message["content"],
        "allowed_mentions": body.get("allowed_mentions"),
        "embeds": [{"title": e.get("title"), "color": e.get("color"), "fields": {f["name"]: f["value"] for f in e.get("fields") or []},
                    "footer": (e.get("footer") or {}).get("text")} for e in message["embeds"]]})
    if (req["query"].get("wait") or ["false"])[0].lower() == "true":
        return 200, json.dumps(message).encode(), [("Content-Type", "application/json")]
    return 204, b"", []

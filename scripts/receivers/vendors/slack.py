"""Slack: incoming webhooks and the Web API method chat.postMessage.

Contract checked (docs.slack.dev):
- Incoming webhooks ("Sending messages using incoming webhooks"): POST /services/T…/B…/<secret>,
  Content-Type application/json, a body with `text`, `blocks` or `attachments`. Success: 200, body
  `ok` (text/plain). Errors are text bodies ("Improving error conditions for Incoming Webhooks",
  changelog 2016-05-17): 400 invalid_payload, 400 no_text, 400 too_many_attachments,
  403 action_prohibited, 404 channel_not_found, 404 no_service (unknown webhook),
  410 channel_is_archived.
- chat.postMessage (reference/methods/chat.postMessage): POST /api/chat.postMessage,
  `Authorization: Bearer xox…`, JSON body (`application/json; charset=utf-8`) with `channel` and
  `text`, `blocks` or `attachments`. Always HTTP 200: {"ok":true,"channel","ts","message"} or
  {"ok":false,"error":…}: not_authed (no token), invalid_auth (unknown token), channel_not_found,
  is_archived, no_text, invalid_blocks, too_many_attachments.
- Block Kit limits (reference/block-kit/blocks): at most 50 blocks; header text plain_text of at
  most 150 characters; section text at most 3000, fields at most 10 of at most 2000, a section needs
  text or fields; actions at most 25 elements; button text plain_text at most 75, url at most 3000;
  context at most 10 elements. At most 100 attachments.

Options: hook (the valid webhook path; default any /services/T…/B…/…), archived_hook (a webhook
path answering 410 channel_is_archived), token (the bot token), channels (comma-separated
channels that exist), archived_channels (comma-separated, answering is_archived).
Store: {"messages": [{"via", "channel", "text", "blocks", "attachments", "ts"}]}.
"""
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _contract import is_json, json_object, text, too_long  # noqa: E402

HOOK = re.compile(r"^/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+$")
BLOCK_TYPES = {"header", "section", "divider", "actions", "context", "image", "rich_text", "input", "file", "video", "markdown"}


def _list(name):
    return [c for c in options.get(name, "").split(",") if c]  # noqa: F821 (options is set by the receiver)


def block_problems(blocks):
    """Why a blocks array breaks Block Kit's limits, or []."""
    if not isinstance(blocks, list):
        return ["blocks must be an array"]
    out = []
    if len(blocks) > 50:
        out.append(f"{len(blocks)} blocks (at most 50)")
    for i, b in enumerate(blocks):
        t = b.get("type") if isinstance(b, dict) else None
        if t not in BLOCK_TYPES:
            out.append(f"block {i}: unknown type {t!r}")
            continue
        if t == "header":
            tx = b.get("text") or {}
            if tx.get("type") != "plain_text" or not text(tx.get("text")):
                out.append(f"block {i}: header needs plain_text text")
            elif too_long(tx.get("text"), 150):
                out.append(f"block {i}: header text is {len(tx['text'])} characters (at most 150)")
        elif t == "section":
            tx, fields = b.get("text"), b.get("fields")
            if not tx and not fields:
                out.append(f"block {i}: section needs text or fields")
            if tx and (tx.get("type") not in ("mrkdwn", "plain_text") or too_long(tx.get("text"), 3000) or not text(tx.get("text"))):
                out.append(f"block {i}: section text must be mrkdwn/plain_text of 1 to 3000 characters")
            if fields is not None:
                if not isinstance(fields, list) or len(fields) > 10:
                    out.append(f"block {i}: at most 10 fields")
                elif any(too_long(f.get("text"), 2000) or not text(f.get("text")) for f in fields):
                    out.append(f"block {i}: each field is 1 to 2000 characters")
        elif t == "actions":
            elements = b.get("elements") or []
            if not elements or len(elements) > 25:
                out.append(f"block {i}: actions needs 1 to 25 elements")
            for e in elements:
                if e.get("type") == "button":
                    if too_long((e.get("text") or {}).get("text"), 75) or not text((e.get("text") or {}).get("text")):
                        out.append(f"block {i}: button text is 1 to 75 characters")
                    if "url" in e and (too_long(e["url"], 3000) or not text(e["url"])):
                        out.append(f"block {i}: button url is 1 to 3000 characters")
        elif t == "context":
            elements = b.get("elements") or []
            if not elements or len(elements) > 10:
                out.append(f"block {i}: context needs 1 to 10 elements")
    return out


def message_problem(body):
    """(error code, detail) when the message is not one Slack accepts, else None."""
    attachments = body.get("attachments")
    if not text(body.get("text")) and not body.get("blocks") and not attachments:
        return "no_text", "no text, blocks or attachments"
    if attachments is not None:
        if not isinstance(attachments, list):
            return "invalid_attachments", "attachments must be an array"
        if len(attachments) > 100:
            return "too_many_attachments", f"{len(attachments)} attachments (at most 100)"
    problems = block_problems(body["blocks"]) if "blocks" in body else []
    for a in attachments or []:
        color = a.get("color")
        if color is not None and not re.match(r"^(#?[0-9A-Fa-f]{6}|good|warning|danger)$", text(color)):
            problems.append(f"attachment color {color!r} is not a hex colour")
        if "blocks" in a:
            problems += block_problems(a["blocks"])
    if problems:
        return "invalid_blocks", "; ".join(problems)
    return None


def record(store, via, channel, body):
    ts = f"{time.time():.6f}"
    store.setdefault("messages", []).append({
        "via": via, "channel": channel, "text": text(body.get("text")), "ts": ts,
        "blocks": len(body.get("blocks") or []) + sum(len(a.get("blocks") or []) for a in body.get("attachments") or []),
        "attachments": len(body.get("attachments") or [])})
    return ts


def webhook(req, store):
    if req["method"] != "POST":
        raise Violation(f"incoming webhooks take POST, not {req['method']}", 405, b"invalid_method")  # noqa: F821
    if not HOOK.match(req["path"]):
        raise Violation(f"{req['path']} is not an incoming webhook path", 404, b"no_service")  # noqa: F821
    if req["path"] == options.get("archived_hook"):  # noqa: F821
        return 410, b"channel_is_archived", [("Content-Type", "text/plain")]
    if options.get("hook") and req["path"] != options["hook"]:  # noqa: F821
        return 404, b"no_service", [("Content-Type", "text/plain")]
    body = json_object(req)
    if not is_json(req) or body is None:
        raise Violation("body is not a JSON object sent as application/json", 400, b"invalid_payload")  # noqa: F821
    problem = message_problem(body)
    if problem:
        code, detail = problem
        raise Violation(f"{code}: {detail}", 400, code.encode())  # noqa: F821
    record(store, "webhook", "webhook-channel", body)
    return 200, b"ok", [("Content-Type", "text/plain")]


def post_message(req, store):
    def error(code):
        return 200, json.dumps({"ok": False, "error": code}).encode(), [("Content-Type", "application/json; charset=utf-8")]

    if req["method"] != "POST":
        raise Violation(f"chat.postMessage with a JSON body takes POST, not {req['method']}", 200, b'{"ok":false,"error":"invalid_request"}')  # noqa: F821
    auth = req["headers"].get("authorization", "")
    if not auth:
        return error("not_authed")
    if not re.match(r"^Bearer xox[abpe]-\S+$", auth):
        raise Violation("Authorization must be 'Bearer xox…'", 200, b'{"ok":false,"error":"not_authed"}')  # noqa: F821
    if options.get("token") and auth != "Bearer " + options["token"]:  # noqa: F821
        return error("invalid_auth")
    body = json_object(req)
    if not is_json(req) or body is None:
        raise Violation("body is not a JSON object sent as application/json", 200, b'{"ok":false,"error":"invalid_json"}')  # noqa: F821
    channel = text(body.get("channel"))
    if not channel:
        raise Violation("chat.postMessage needs 'channel'", 200, b'{"ok":false,"error":"channel_not_found"}')  # noqa: F821
    problem = message_problem(body)
    if problem:
        raise Violation(f"{problem[0]}: {problem[1]}", 200, json.dumps({"ok": False, "error": problem[0]}).encode())  # noqa: F821
    if channel in _list("archived_channels"):
        return error("is_archived")
    if _list("channels") and channel not in _list("channels"):
        return error("channel_not_found")
    ts = record(store, "api", channel, body)
    answer = {"ok": True, "channel": channel, "ts": ts, "message": {"type": "message", "text": text(body.get("text")), "bot_id": "B0SLUICE"}}
    return 200, json.dumps(answer).encode(), [("Content-Type", "application/json; charset=utf-8")]


def handle(req, store):
    if req["path"] == "/api/chat.postMessage":
        return post_message(req, store)
    return webhook(req, store)

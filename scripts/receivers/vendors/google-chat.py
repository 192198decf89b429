"""Google Chat incoming webhooks (spaces.messages.create with a webhook key and token).

Contract checked (developers.google.com/workspace/chat, "Build a Google Chat app as a webhook",
REST reference spaces.messages.create, Message, CardWithId, Card, "Send a message" threading):
- POST /v1/spaces/<space>/messages?key=<key>&token=<token>, Content-Type application/json
  (charset=UTF-8 allowed).
- Optional query `messageReplyOption`: MESSAGE_REPLY_OPTION_UNSPECIFIED (default: always a new
  thread, any thread key is ignored), REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD,
  REPLY_MESSAGE_OR_FAIL. The thread key goes in the body (`thread.threadKey`; the `threadKey` query
  parameter is deprecated).
- The body needs `text` or `cardsV2` (non-empty). `text` at most 4096 characters. A cardsV2 item has
  `cardId` and `card`; a card has `sections` (an array), each with `widgets` (an array) whose items
  hold exactly one widget (textParagraph, decoratedText, buttonList, image, divider, …); a
  decoratedText needs `text`; a button needs `text` and `onClick`.
- Success: 200 with the Message ({"name":"spaces/S/messages/M","thread":{"name":…,"threadKey":…},
  "space":…,"text":…,"createTime":…}). Errors: {"error":{"code","message","status"}} — 400
  INVALID_ARGUMENT, 401 UNAUTHENTICATED (bad token), 403 PERMISSION_DENIED (bad key), 404 NOT_FOUND.

Options: space, key, token (the valid webhook; default any).
Store: {"messages": [{"name", "thread", "threadKey", "text", "cards"}], "threads": {threadKey: {"name", "messages"}}}.
"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _contract import is_json, json_object, new_id, now_iso, text, too_long  # noqa: E402

PATH = re.compile(r"^/v1/spaces/([A-Za-z0-9_-]+)/messages$")
REPLY_OPTIONS = {"MESSAGE_REPLY_OPTION_UNSPECIFIED", "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD", "REPLY_MESSAGE_OR_FAIL"}
WIDGETS = {"textParagraph", "image", "decoratedText", "buttonList", "textInput", "selectionInput", "dateTimePicker",
           "divider", "grid", "columns", "chipList", "carousel"}


def error(status, state, message):
    return status, json.dumps({"error": {"code": status, "message": message, "status": state}}).encode(), [("Content-Type", "application/json; charset=UTF-8")]


def violation(message):
    return Violation(message, 400, error(400, "INVALID_ARGUMENT", message)[1])  # noqa: F821


def card_problems(cards):
    if not isinstance(cards, list):
        return ["cardsV2 must be an array"]
    out = []
    for i, c in enumerate(cards):
        if not text(c.get("cardId")) or not isinstance(c.get("card"), dict):
            out.append(f"cardsV2[{i}] needs cardId and card")
            continue
        sections = c["card"].get("sections", [])
        if not isinstance(sections, list):
            out.append(f"cardsV2[{i}].card.sections must be an array")
            continue
        for j, s in enumerate(sections):
            for k, w in enumerate(s.get("widgets", [])):
                kinds = [key for key in w if key in WIDGETS]
                where = f"cardsV2[{i}].card.sections[{j}].widgets[{k}]"
                if len(kinds) != 1:
                    out.append(f"{where} must hold exactly one widget, has {sorted(w)}")
                elif kinds[0] == "decoratedText" and not text(w["decoratedText"].get("text")):
                    out.append(f"{where}.decoratedText needs text")
                elif kinds[0] == "buttonList":
                    for b in w["buttonList"].get("buttons", []):
                        if not text(b.get("text")) or "onClick" not in b:
                            out.append(f"{where}: a button needs text and onClick")
    return out


def handle(req, store):
    m = PATH.match(req["path"])
    if req["method"] != "POST" or not m:
        raise Violation(f"{req['method']} {req['path']} is not spaces.messages.create", 404, error(404, "NOT_FOUND", "Requested entity was not found.")[1])  # noqa: F821
    space, q = m.group(1), req["query"]
    key, token = (q.get("key") or [""])[0], (q.get("token") or [""])[0]
    if not key or not token:
        raise Violation("a webhook needs key and token query parameters", 401, error(401, "UNAUTHENTICATED", "Request is missing required authentication credential.")[1])  # noqa: F821
    if options.get("space") and space != options["space"]:  # noqa: F821
        return error(404, "NOT_FOUND", "Requested entity was not found.")
    if options.get("key") and key != options["key"]:  # noqa: F821
        return error(403, "PERMISSION_DENIED", "The caller does not have permission")
    if options.get("token") and token != options["token"]:  # noqa: F821
        return error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
    reply = (q.get("messageReplyOption") or ["MESSAGE_REPLY_OPTION_UNSPECIFIED"])[0]
    if reply not in REPLY_OPTIONS:
        raise violation(f"invalid messageReplyOption {reply!r}")
    body = json_object(req)
    if not is_json(req) or body is None:
        raise violation("body is not a JSON object sent as application/json")
    if not text(body.get("text")) and not body.get("cardsV2"):
        raise violation("Message cannot be empty: it needs text or cardsV2")
    problems = card_problems(body.get("cardsV2") or [])
    if too_long(body.get("text"), 4096):
        problems.append("text is over 4096 characters")
    thread = body.get("thread")
    if thread is not None and not (isinstance(thread, dict) and (text(thread.get("threadKey")) or text(thread.get("name")))):
        problems.append("thread needs threadKey or name")
    if problems:
        raise violation("; ".join(problems))
    thread_key = text((thread or {}).get("threadKey")) or (q.get("threadKey") or [""])[0]
    threads = store.setdefault("threads", {})
    if thread_key and reply != "MESSAGE_REPLY_OPTION_UNSPECIFIED" and thread_key in threads:
        thread_name = threads[thread_key]["name"]
        threads[thread_key]["messages"] += 1
    else:
        thread_name = f"spaces/{space}/threads/{new_id(11)}"
        if thread_key and reply != "MESSAGE_REPLY_OPTION_UNSPECIFIED":
            threads[thread_key] = {"name": thread_name, "messages": 1}
    name = f"spaces/{space}/messages/{new_id(11)}.{new_id(11)}"
    store.setdefault("messages", []).append({
        "name": name, "thread": thread_name, "threadKey": thread_key, "replyOption": reply, "text": text(body.get("text")),
        "cards": [{"title": c["card"].get("header", {}).get("title"), "sections": len(c["card"].get("sections", []))} for c in body.get("cardsV2") or []]})
    message = {"name": name, "sender": {"name": "users/114022495153014004089", "type": "BOT"}, "text": text(body.get("text")),
               "cardsV2": body.get("cardsV2") or [], "createTime": now_iso(), "space": {"name": f"spaces/{space}", "type": "ROOM"},
               "thread": {"name": thread_name, **({"threadKey": thread_key} if thread_key else {})}}
    return 200, json.dumps(message).encode(), [("Content-Type", "application/json; charset=UTF-8")]

"""Microsoft Teams through a Workflows (Power Automate) webhook: "Post to a channel when a webhook
request is received".

Contract checked (learn.microsoft.com, "Create incoming webhooks with Workflows for Microsoft
Teams" and "Microsoft Teams - Webhook" trigger; adaptivecards.io schema):
- POST https://<host>/workflows/<id>/triggers/manual/paths/invoke?api-version=…&sp=…&sv=…&sig=…
  (or …/powerautomate/automations/direct/workflows/<id>/triggers/manual/paths/invoke?…); the
  `sig` query parameter is the credential: a wrong one is 401 DirectApiInvalidAuthorizationSignature,
  a missing one 401 DirectApiAuthorizationRequired.
- Content-Type application/json; body {"type":"message","attachments":[{"contentType":
  "application/vnd.microsoft.card.adaptive","content":{AdaptiveCard}}]}; Workflows accept only
  Adaptive Cards (not the retired MessageCard). A body that does not match the trigger's schema is
  400 TriggerInputSchemaMismatch. A message is at most 28 KB.
- AdaptiveCard: "type":"AdaptiveCard", a "version" Teams renders (1.0 to 1.5), "body" an array of
  elements with a "type"; a TextBlock needs "text"; a FactSet needs "facts" of {title, value}
  strings; Action.OpenUrl needs "title" and "url".
- Success: 202 Accepted, empty body (the flow runs asynchronously).
Errors: {"error":{"code","message"}}.

Options: workflow (the workflow id in the path; default any), sig (the expected signature).
Store: {"cards": [{"workflow", "title", "version", "facts", "actions"}]}.
"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _contract import is_json, json_object, text  # noqa: E402

PATH = re.compile(r"^(?:/powerautomate/automations/direct)?/workflows/([0-9A-Za-z-]+)/triggers/manual/paths/invoke$")
VERSIONS = {"1.0", "1.1", "1.2", "1.3", "1.4", "1.5"}


def error(status, code, message):
    return status, json.dumps({"error": {"code": code, "message": message}}).encode(), [("Content-Type", "application/json")]


def element_problems(elements, where):
    out = []
    if not isinstance(elements, list):
        return [f"{where} must be an array"]
    for i, e in enumerate(elements):
        t = e.get("type") if isinstance(e, dict) else None
        if not isinstance(t, str):
            out.append(f"{where}[{i}] has no type")
        elif t == "TextBlock" and not isinstance(e.get("text"), str):
            out.append(f"{where}[{i}]: TextBlock needs text")
        elif t == "FactSet":
            facts = e.get("facts")
            if not isinstance(facts, list) or not all(isinstance(f.get("title"), str) and isinstance(f.get("value"), str) for f in facts):
                out.append(f"{where}[{i}]: FactSet facts must be {{title, value}} strings")
        elif t in ("Container", "Column"):
            out += element_problems(e.get("items", []), f"{where}[{i}].items")
        elif t == "ColumnSet":
            out += element_problems(e.get("columns", []), f"{where}[{i}].columns")
    return out


def card_problems(card):
    if not isinstance(card, dict) or card.get("type") != "AdaptiveCard":
        return ["content is not an AdaptiveCard"]
    out = []
    if card.get("version") not in VERSIONS:
        out.append(f"version {card.get('version')!r} is not one Teams renders (1.0 to 1.5)")
    out += element_problems(card.get("body", []), "body")
    for i, a in enumerate(card.get("actions", [])):
        if a.get("type") == "Action.OpenUrl" and not (text(a.get("url")) and text(a.get("title"))):
            out.append(f"actions[{i}]: Action.OpenUrl needs title and url")
    return out


def handle(req, store):
    m = PATH.match(req["path"])
    if req["method"] != "POST" or not m:
        raise Violation(f"{req['method']} {req['path']} is not a workflow trigger", 404,  # noqa: F821
                        json.dumps({"error": {"code": "TriggerNotFound", "message": "The workflow trigger was not found."}}).encode())
    if options.get("workflow") and m.group(1) != options["workflow"]:  # noqa: F821
        return error(404, "WorkflowNotFound", f"The workflow '{m.group(1)}' could not be found.")
    q = req["query"]
    for name in ("api-version", "sp", "sv"):
        if not q.get(name):
            raise Violation(f"query parameter {name} missing", 400, json.dumps({"error": {"code": "InvalidRequest", "message": f"'{name}' is required"}}).encode())  # noqa: F821
    sig = (q.get("sig") or [""])[0]
    if not sig:
        return error(401, "DirectApiAuthorizationRequired", "The request must be authenticated only by Shared Access scheme.")
    if options.get("sig") and sig != options["sig"]:  # noqa: F821
        return error(401, "DirectApiInvalidAuthorizationSignature", "The provided authentication token is not valid.")
    body = json_object(req)
    if not is_json(req) or body is None:
        raise Violation("body is not a JSON object sent as application/json", 400,  # noqa: F821
                        json.dumps({"error": {"code": "InvalidRequestContent", "message": "The request content is not valid JSON."}}).encode())
    if len(req["body"]) > 28 * 1024:
        raise Violation(f"message is {len(req['body'])} bytes (at most 28 KB)", 413,  # noqa: F821
                        json.dumps({"error": {"code": "MessageSizeTooBig", "message": "Message size is too big"}}).encode())
    problems = []
    if body.get("type") != "message":
        problems.append("type must be 'message'")
    attachments = body.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        problems.append("attachments must be a non-empty array")
        attachments = []
    for i, a in enumerate(attachments):
        if a.get("contentType") != "application/vnd.microsoft.card.adaptive":
            problems.append(f"attachments[{i}].contentType must be application/vnd.microsoft.card.adaptive")
        problems += [f"attachments[{i}].content: {p}" for p in card_problems(a.get("content"))]
    if problems:
        raise Violation("; ".join(problems), 400,  # noqa: F821
                        json.dumps({"error": {"code": "TriggerInputSchemaMismatch", "message": "; ".join(problems)}}).encode())
    for a in attachments:
        card = a["content"]
        texts = [e.get("text") for c in card.get("body", []) for e in ([c] + c.get("items", [])) if e.get("type") == "TextBlock"]
        facts = {f["title"]: f["value"] for e in card.get("body", []) if e.get("type") == "FactSet" for f in e["facts"]}
        styles = [c.get("style") for c in card.get("body", []) if c.get("type") == "Container"]
        store.setdefault("cards", []).append({"workflow": m.group(1), "texts": texts, "facts": facts, "styles": styles,
                                              "version": card["version"], "actions": [x.get("url") for x in card.get("actions", [])]})
    return 202, b"", []

"""Standard Webhooks verifier (standardwebhooks.com, spec "Standard Webhooks", signature scheme v1).

An independent check of what the `webhook` connector's `signing:` sends, with Python's hmac:
- headers webhook-id, webhook-timestamp (integer unix seconds) and webhook-signature are all
  present; otherwise 400;
- the timestamp is within the tolerance (5 minutes, as the reference libraries use) of now;
- the secret is `whsec_` + base64; its decoded bytes are the HMAC-SHA256 key;
- the signed content is "{webhook-id}.{webhook-timestamp}.{raw body}";
- webhook-signature is a space-separated list of "v1,<base64 signature>"; one must match,
  compared in constant time. Otherwise 401.

options: secret (whsec_...), tolerance (seconds, default 300).
store: {"messages": [{"id", "timestamp", "signature"}], "ids": {id: deliveries}}
"""
import base64
import hashlib
import hmac
import json
import time


def reject(status, message):
    return Violation(message, status, json.dumps({"error": message}).encode())


def handle(req, store):
    store.setdefault("messages", [])
    store.setdefault("ids", {})
    h = req["headers"]
    msg_id, timestamp, signatures = h.get("webhook-id"), h.get("webhook-timestamp"), h.get("webhook-signature")
    if not msg_id or not timestamp or not signatures:
        raise reject(400, "missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        ts = int(timestamp)
    except ValueError:
        raise reject(400, "webhook-timestamp is not integer unix seconds")
    if abs(time.time() - ts) > int(options.get("tolerance", "300")):
        raise reject(401, "webhook-timestamp is outside the tolerance")
    secret = options["secret"]
    key = base64.b64decode(secret[len("whsec_"):] if secret.startswith("whsec_") else secret)
    content = msg_id.encode() + b"." + timestamp.encode() + b"." + req["body"]
    expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    ok = False
    for entry in signatures.split(" "):
        version, _, sig = entry.partition(",")
        if version == "v1" and hmac.compare_digest(sig, expected):
            ok = True
    if not ok:
        raise reject(401, "no matching signature")
    store["messages"].append({"id": msg_id, "timestamp": ts, "signature": signatures})
    store["ids"][msg_id] = store["ids"].get(msg_id, 0) + 1
    return 204, b"", []

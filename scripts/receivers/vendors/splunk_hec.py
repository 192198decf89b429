"""Splunk HTTP Event Collector (HEC): POST /services/collector/event with the JSON event protocol.

Contract, from Splunk's documentation:
- "Format events for HTTP Event Collector": `Authorization: Splunk <token>`; the body is one or
  more JSON event objects one after another (whitespace between them allowed), each with `event`
  (required, not blank) and optional `time` (epoch seconds, a number or numeric string), `host`,
  `source`, `sourcetype`, `index` (strings) and `fields` (flat object of indexed fields).
- "HTTP Event Collector REST API endpoints": /services/collector, /services/collector/event and
  /services/collector/event/1.0 take this protocol.
- "Troubleshoot HTTP Event Collector" (status codes): 0 Success (200), 1 Token disabled (403),
  2 Token is required (401), 3 Invalid authorization (401), 4 Invalid token (403), 5 No data (400),
  6 Invalid data format (400), 7 Incorrect index (400), 8 Internal server error (500),
  9 Server is busy (503), 10 Data channel is missing (400), 11 Invalid data channel (400),
  12 Event field is required (400), 13 Event field cannot be blank (400), 14 ACK is disabled (400),
  15 Error in handling indexed fields (400). Errors about one event carry `invalid-event-number`
  (0-based): HEC parses the body in order, the events before that one are indexed, the rest are not.
- "About HTTP Event Collector Indexer Acknowledgment": with acknowledgement on, every request needs
  a channel (`X-Splunk-Request-Channel: <GUID>` or `?channel=`) and the answer carries an `ackId`.

Options: token (the valid token, required), indexes (comma-separated indexes the token may write;
default any), ack=true (acknowledgement on), busy=true (answer 9 Server is busy to everything).
Store: {"events": [the indexed event objects, in order], "requests": N, "acks": [ackIds]}.
"""
import json
import uuid

MESSAGES = {0: (200, "Success"), 1: (403, "Token disabled"), 2: (401, "Token is required"),
            3: (401, "Invalid authorization"), 4: (403, "Invalid token"), 5: (400, "No data"),
            6: (400, "Invalid data format"), 7: (400, "Incorrect index"), 8: (500, "Internal server error"),
            9: (503, "Server is busy"), 10: (400, "Data channel is missing"), 11: (400, "Invalid data channel"),
            12: (400, "Event field is required"), 13: (400, "Event field cannot be blank"),
            14: (400, "ACK is disabled"), 15: (400, "Error in handling indexed fields")}
PATHS = ("/services/collector", "/services/collector/event", "/services/collector/event/1.0")
METADATA = ("host", "source", "sourcetype", "index")
KEYS = {"time", "event", "fields"} | set(METADATA)


def answer(code, **extra):
    status, text = MESSAGES[code]
    body = dict({"text": text, "code": code}, **extra)
    return status, json.dumps(body).encode(), [("Content-Type", "application/json")]


def error(message, code, **extra):
    status, body, _ = answer(code, **extra)
    return Violation(message, status, body)


class Rejected(Exception):
    def __init__(self, code):
        self.code = code


def check_event(obj, allowed_indexes):
    """Raises Rejected(code) for an event HEC refuses, as HEC checks it."""
    if not isinstance(obj, dict):
        raise Rejected(6)
    if "event" not in obj:
        raise Rejected(12)
    if obj["event"] is None or obj["event"] == "":
        raise Rejected(13)
    if "time" in obj:
        t = obj["time"]
        if isinstance(t, bool) or not isinstance(t, (int, float, str)):
            raise Rejected(6)
        try:
            float(t)
        except ValueError:
            raise Rejected(6)
    for key in METADATA:
        if key in obj and not isinstance(obj[key], str):
            raise Rejected(6)
    if allowed_indexes and obj.get("index") is not None and obj["index"] not in allowed_indexes:
        raise Rejected(7)
    if "fields" in obj:
        f = obj["fields"]
        if not isinstance(f, dict) or any(isinstance(v, dict) for v in f.values()):
            raise Rejected(15)


def handle(req, store):
    store.setdefault("events", [])
    store.setdefault("acks", [])
    store["requests"] = store.get("requests", 0) + 1
    if req["method"] != "POST":
        raise Violation(f"HEC takes POST, not {req['method']}", 404, b'{"text":"The requested URL was not found on this server.","code":404}')
    if req["path"] not in PATHS:
        raise Violation(f"not a HEC event endpoint: {req['path']}", 404, b'{"text":"The requested URL was not found on this server.","code":404}')
    auth = req["headers"].get("authorization")
    if not auth:
        raise error("no Authorization header", 2)
    scheme, _, token = auth.partition(" ")
    if scheme != "Splunk" or not token:
        raise error("Authorization must be 'Splunk <token>'", 3)
    if token != options.get("token"):
        return answer(4)  # a wrong token is the sender's configuration, not a protocol break
    channel = req["headers"].get("x-splunk-request-channel") or (req["query"].get("channel") or [None])[0]
    if channel is not None:
        try:
            uuid.UUID(channel)
        except ValueError:
            raise error(f"channel is not a GUID: {channel}", 11)
    if options.get("ack") == "true" and channel is None:
        return answer(10)
    if options.get("busy") == "true":
        return answer(9)
    body = req["body"]
    if not body.strip():
        return answer(5)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return answer(6, **{"invalid-event-number": 0})
    allowed = {i for i in options.get("indexes", "").split(",") if i}
    decoder = json.JSONDecoder()
    pos, n = 0, 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos == len(text):
            break
        try:
            obj, pos = decoder.raw_decode(text, pos)
            check_event(obj, allowed)
        except ValueError:
            return answer(6, **{"invalid-event-number": n})
        except Rejected as r:
            return answer(r.code, **{"invalid-event-number": n})
        unknown = set(obj) - KEYS
        if unknown:
            raise error(f"event {n} has keys HEC does not define: {sorted(unknown)}", 6, **{"invalid-event-number": n})
        store["events"].append(obj)  # indexed now: a later bad event does not take it back
        n += 1
    if options.get("ack") == "true":
        ack = len(store["acks"])
        store["acks"].append(ack)
        return answer(0, ackId=ack)
    return answer(0)

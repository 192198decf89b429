"""Helpers shared by the vendor contract modules (not a vendor itself).

Vendors count lengths in characters (code points), as Python's len() does.
"""
import secrets
import time


def is_json(req):
    """Whether the request declares a JSON body (`application/json`, parameters allowed)."""
    return req["headers"].get("content-type", "").split(";")[0].strip().lower() == "application/json"


def json_object(req):
    """The request's JSON body when it is an object, else None."""
    body = req["json"]
    return body if isinstance(body, dict) else None


def text(value):
    """A string value, or '' for anything else (missing fields count as empty)."""
    return value if isinstance(value, str) else ""


def too_long(value, limit):
    return isinstance(value, str) and len(value) > limit


def new_id(n=16):
    return secrets.token_hex(n // 2)


def now_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

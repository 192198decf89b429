"""EC2 instance metadata service (IMDS), version 2 only, as far as credentials go.

Contract (AWS documentation, "Use the Instance Metadata Service to access instance metadata",
"Retrieve security credentials from instance metadata"):
- A session starts with `PUT /latest/api/token` carrying `X-aws-ec2-metadata-token-ttl-seconds`
  (1 to 21600); the answer body is the token. A PUT with `X-Forwarded-For` is refused (403).
- Every metadata request carries the token in `X-aws-ec2-metadata-token`. With IMDSv2 required,
  a request without a valid token gets 401 Unauthorized.
- `GET /latest/meta-data/iam/security-credentials/` lists the instance profile's role name;
  `GET /latest/meta-data/iam/security-credentials/<role>` returns its credentials as JSON:
  Code, LastUpdated, Type ("AWS-HMAC"), AccessKeyId, SecretAccessKey, Token, Expiration.
  An unknown role name is 404.

Options: role (default sluice-instance-role), access_key_id (default ASIAIMDSEXAMPLE),
expires_in (seconds, default 3600).
Store: tokens issued, credential fetches.
"""
import json
import secrets
import time

TOKEN_PATH = "/latest/api/token"
CREDS_PATH = "/latest/meta-data/iam/security-credentials/"


def _iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def handle(req, store):
    role = options.get("role", "sluice-instance-role")
    headers = req["headers"]
    if req["path"] == TOKEN_PATH:
        if req["method"] != "PUT":
            raise Violation("the token is fetched with PUT", 405, b"")
        if "x-forwarded-for" in headers:
            raise Violation("token requests through a proxy are refused", 403, b"")
        ttl = headers.get("x-aws-ec2-metadata-token-ttl-seconds", "")
        if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
            raise Violation("X-aws-ec2-metadata-token-ttl-seconds must be 1..21600", 400, b"")
        token = secrets.token_urlsafe(24)
        store.setdefault("tokens", []).append(token)
        return 200, token.encode(), [("Content-Type", "text/plain"), ("X-aws-ec2-metadata-token-ttl-seconds", ttl)]
    if req["method"] != "GET":
        raise Violation("metadata is read with GET", 405, b"")
    if headers.get("x-aws-ec2-metadata-token") not in store.get("tokens", []):
        raise Violation("IMDSv2 is required: no valid X-aws-ec2-metadata-token", 401, b"")
    if req["path"] == CREDS_PATH:
        return 200, role.encode(), [("Content-Type", "text/plain")]
    if req["path"] == CREDS_PATH + role:
        store["fetches"] = store.get("fetches", 0) + 1
        n = store["fetches"]
        now = time.time()
        body = {
            "Code": "Success", "LastUpdated": _iso(now), "Type": "AWS-HMAC",
            "AccessKeyId": options.get("access_key_id", "ASIAIMDSEXAMPLE"),
            "SecretAccessKey": f"imds-secret-{n}", "Token": f"imds-token-{n}",
            "Expiration": _iso(now + int(options.get("expires_in", "3600"))),
        }
        return 200, json.dumps(body, indent=2).encode(), [("Content-Type", "text/plain")]
    return 404, b"", [("Content-Type", "text/plain")]

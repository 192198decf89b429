"""Kubernetes API server, as far as Sluice's Kubernetes executors go.

Contract (Kubernetes API reference v1.30: "API Concepts", "Pod v1 core", "Node v1 core",
"NetworkPolicy v1 networking.k8s.io"; "Controlling Access to the Kubernetes API"):
- Every request carries `Authorization: Bearer <token>`; otherwise 401 with a Status object.
- Resource paths: /api/v1/namespaces/{namespace}/pods/{name}, /api/v1/nodes/{name},
  /apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies[/{name}]. Names are RFC 1123
  (namespaces: DNS labels; pods, nodes, policies: DNS subdomains).
- Verbs: GET (read), PATCH (patch), POST on the collection (create), DELETE (delete).
- PATCH bodies name their kind in Content-Type: application/merge-patch+json (RFC 7386),
  application/strategic-merge-patch+json, application/json-patch+json or
  application/apply-patch+yaml; anything else is 415 Unsupported Media Type.
- POST bodies are application/json objects whose apiVersion/kind match the collection and whose
  metadata.namespace, when given, equals the path's; an existing name is 409 AlreadyExists.
  A NetworkPolicy must be valid against the Kubernetes OpenAPI schema (checked with the
  `kubernetes-validate` package, strict: unknown fields are rejected).
- DELETE answers the object (200); `gracePeriodSeconds` must be a non-negative integer.
- Errors are `Status` objects: {"kind":"Status","apiVersion":"v1","status":"Failure",
  "message", "reason", "code"}.

Options: token (default sluice-test-token); pods: comma-separated namespace/name (each gets the
label app=<name>); nodes: comma-separated node names; version (schema version, default 1.30.0).
Store: pods, nodes, networkpolicies (by namespace/name), requests (method, path, content_type).
"""
import copy
import glob
import json
import os
import re
import sys

# The tools venv holds kubernetes-validate; this module may run under the system python.
_root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
for site in glob.glob(os.path.join(_root, ".tools", "venv", "lib", "python3*", "site-packages")):
    if site not in sys.path:
        sys.path.append(site)
try:
    import kubernetes_validate
except ImportError:  # reported as a violation on the first NetworkPolicy
    kubernetes_validate = None

LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
PATCH_TYPES = {"application/merge-patch+json", "application/strategic-merge-patch+json",
               "application/json-patch+json", "application/apply-patch+yaml"}


def _status(code, reason, message):
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}
    return json.dumps(body).encode()


def _label(s):
    return bool(s) and len(s) <= 63 and LABEL.match(s) is not None


def _subdomain(s):
    return bool(s) and len(s) <= 253 and all(_label(p) for p in s.split("."))


def _merge(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _merge(out.get(k), v)
    return out


def _seed(store):
    if "pods" in store:
        return
    store["pods"], store["nodes"], store["networkpolicies"], store["requests"] = {}, {}, {}, []
    for item in filter(None, options.get("pods", "").split(",")):
        ns, name = item.split("/", 1)
        store["pods"][item] = {"apiVersion": "v1", "kind": "Pod",
                               "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
                               "spec": {"containers": [{"name": name, "image": "busybox"}]}}
    for name in filter(None, options.get("nodes", "").split(",")):
        store["nodes"][name] = {"apiVersion": "v1", "kind": "Node",
                                "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}, "spec": {}}


def _json_body(req):
    if req["json"] is None or not isinstance(req["json"], dict):
        raise Violation("the body must be a JSON object", 400, _status(400, "BadRequest", "the body must be a JSON object"))
    return req["json"]


def _patch(req, store, collection, key, kind):
    ctype = req["headers"].get("content-type", "").split(";")[0].strip()
    if ctype not in PATCH_TYPES:
        raise Violation(f"PATCH with Content-Type {ctype!r}", 415, _status(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - accepted media types include: {', '.join(sorted(PATCH_TYPES))}"))
    if ctype in ("application/json-patch+json", "application/apply-patch+yaml"):
        raise Violation(f"{ctype} is not what Sluice sends", 415, _status(415, "UnsupportedMediaType", "unexpected patch type"))
    obj = store[collection].get(key)
    if obj is None:
        return 404, _status(404, "NotFound", f'{kind} "{key.split("/")[-1]}" not found'), []
    patched = _merge(obj, _json_body(req))
    if patched.get("metadata", {}).get("name") != obj["metadata"]["name"]:
        raise Violation("a patch must not rename the object", 422, _status(422, "Invalid", "metadata.name is immutable"))
    store[collection][key] = patched
    return 200, json.dumps(patched).encode(), []


def _create_policy(req, store, ns):
    ctype = req["headers"].get("content-type", "").split(";")[0].strip()
    if ctype != "application/json":
        raise Violation(f"create with Content-Type {ctype!r}", 415, _status(415, "UnsupportedMediaType", "expected application/json"))
    body = _json_body(req)
    if body.get("apiVersion") != "networking.k8s.io/v1" or body.get("kind") != "NetworkPolicy":
        raise Violation("the body is not a networking.k8s.io/v1 NetworkPolicy", 400, _status(400, "BadRequest", "wrong kind"))
    meta = body.get("metadata") or {}
    if meta.get("namespace", ns) != ns:
        raise Violation("metadata.namespace differs from the path's namespace", 400, _status(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request"))
    if not _subdomain(meta.get("name", "")):
        raise Violation("metadata.name is not a DNS subdomain", 422, _status(422, "Invalid", "metadata.name: Invalid value"))
    if kubernetes_validate is None:
        raise Violation("kubernetes-validate is not installed in .tools/venv", 500, _status(500, "InternalError", "no schema"))
    try:
        kubernetes_validate.validate(body, options.get("version", "1.30.0"), strict=True)
    except kubernetes_validate.ValidationError as e:
        raise Violation(f"NetworkPolicy fails the Kubernetes schema: {e.message}", 422, _status(422, "Invalid", e.message))
    key = f"{ns}/{meta['name']}"
    if key in store["networkpolicies"]:
        return 409, _status(409, "AlreadyExists", f'networkpolicies.networking.k8s.io "{meta["name"]}" already exists'), []
    created = copy.deepcopy(body)
    created["metadata"]["namespace"] = ns
    store["networkpolicies"][key] = created
    return 201, json.dumps(created).encode(), []


def handle(req, store):
    _seed(store)
    store["requests"].append({"method": req["method"], "path": req["path"],
                              "content_type": req["headers"].get("content-type", "")})
    token = options.get("token", "sluice-test-token")
    if req["headers"].get("authorization") != f"Bearer {token}":
        raise Violation("no valid bearer token", 401, _status(401, "Unauthorized", "Unauthorized"))
    parts = req["path"].strip("/").split("/")
    method = req["method"]

    if parts[:3] == ["api", "v1", "namespaces"] and len(parts) == 6 and parts[4] == "pods":
        ns, name = parts[3], parts[5]
        if not _label(ns) or not _subdomain(name):
            raise Violation("namespace or pod name is not RFC 1123", 400, _status(400, "BadRequest", "invalid name"))
        key = f"{ns}/{name}"
        if method == "GET":
            pod = store["pods"].get(key)
            return (200, json.dumps(pod).encode(), []) if pod else (404, _status(404, "NotFound", f'pods "{name}" not found'), [])
        if method == "PATCH":
            return _patch(req, store, "pods", key, "pods")
        if method == "DELETE":
            grace = req["query"].get("gracePeriodSeconds")
            if grace and not (grace[0].isdigit()):
                raise Violation("gracePeriodSeconds must be a non-negative integer", 400, _status(400, "BadRequest", "invalid gracePeriodSeconds"))
            pod = store["pods"].pop(key, None)
            return (200, json.dumps(pod).encode(), []) if pod else (404, _status(404, "NotFound", f'pods "{name}" not found'), [])
        raise Violation(f"{method} on a pod", 405, _status(405, "MethodNotAllowed", "method not allowed"))

    if parts[:3] == ["api", "v1", "nodes"] and len(parts) == 4:
        name = parts[3]
        if not _subdomain(name):
            raise Violation("node name is not RFC 1123", 400, _status(400, "BadRequest", "invalid name"))
        if method == "GET":
            node = store["nodes"].get(name)
            return (200, json.dumps(node).encode(), []) if node else (404, _status(404, "NotFound", f'nodes "{name}" not found'), [])
        if method == "PATCH":
            return _patch(req, store, "nodes", name, "nodes")
        raise Violation(f"{method} on a node", 405, _status(405, "MethodNotAllowed", "method not allowed"))

    if parts[:4] == ["apis", "networking.k8s.io", "v1", "namespaces"] and len(parts) >= 6 and parts[5] == "networkpolicies":
        ns = parts[4]
        if not _label(ns):
            raise Violation("namespace is not a DNS label", 400, _status(400, "BadRequest", "invalid namespace"))
        if len(parts) == 6 and method == "POST":
            return _create_policy(req, store, ns)
        if len(parts) == 7 and method == "GET":
            policy = store["networkpolicies"].get(f"{ns}/{parts[6]}")
            return (200, json.dumps(policy).encode(), []) if policy else (404, _status(404, "NotFound", "not found"), [])
        raise Violation(f"{method} {req['path']}", 405, _status(405, "MethodNotAllowed", "method not allowed"))

    raise Violation(f"no such API path: {req['path']}", 404, _status(404, "NotFound", "the server could not find the requested resource"))

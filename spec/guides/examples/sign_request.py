# Guide example (spec §5 request signing): the X-SMCP-Authorization header for a request made by a generated
# Python client (openapi-python-client, httpx). Needs only `cryptography`; stdlib otherwise.
import base64
import hashlib
import json
import secrets
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def authorization_header(origin, key_id, seed, method, uri, body, destination, ts=None, nonce=None):
    """The exact header value for one request: `uri` is the request-target as sent, `body` the exact bytes."""
    ts = int(time.time() * 1000) if ts is None else ts
    nonce = b64url(secrets.token_bytes(16)) if nonce is None else nonce
    form = {
        "purpose": "smcp.request.v1",
        "method": method,  # exactly as sent: methods are case-sensitive (SIGN-13)
        "uri": uri,
        "origin": origin,
        "destination": destination,
        "key_id": key_id,
        "ts": ts,
        "nonce": nonce,
        "content_sha256": b64url(hashlib.sha256(body).digest()),
    }
    # Strings and one integer only: JCS (RFC 8785) is sorted keys, no spaces, non-ASCII kept as UTF-8.
    signed = json.dumps(form, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    sig = b64url(Ed25519PrivateKey.from_private_bytes(seed).sign(signed))
    return f"SMCP-Ed25519 origin={origin} destination={destination} key_id={key_id} ts={ts} nonce={nonce} sig={sig}"


def signing_event_hook(origin, key_id, seed, destination):
    """An httpx request event hook: signs each request over the bytes httpx will send, drops any Authorization."""

    def hook(request):
        request.headers.pop("authorization", None)
        target = request.url.raw_path.decode("ascii")  # path and query exactly as sent
        request.headers["x-smcp-authorization"] = authorization_header(
            origin, key_id, seed, request.method, target, request.read(), destination
        )

    return hook


if __name__ == "__main__":
    # Reproduce every vector of fixtures/signed-requests.json: python3 sign_request.py < fixtures/signed-requests.json
    import sys

    vectors = json.load(sys.stdin)
    keys = {k["server_name"]: k for k in json.load(open(sys.argv[1]))["keys"]}
    ok = 0
    for v in vectors["requests"]:
        r, k = v["request"], keys[v["key"]]
        got = authorization_header(
            r["origin"], k["key_id"], bytes.fromhex(k["seed_hex"]), r["method"], r["uri"],
            r["body"].encode("utf-8"), r["destination"], r["ts"], r["nonce"],
        )
        if got != v["header_value"]:
            print(f"MISMATCH {v['name']}\n  got      {got}\n  expected {v['header_value']}")
            sys.exit(1)
        ok += 1
    print(f"ok {ok}")

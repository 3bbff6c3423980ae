"""Minimal HS256 JWT encode/decode (RFC 7519) with the stdlib."""
import base64
import hashlib
import hmac
import json


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text):
    text += "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(text.encode("ascii"))


def encode(payload, secret):
    header = {"alg": "HS256", "typ": "JWT"}
    signing_input = _b64(json.dumps(header, separators=(",", ":")).encode()) + "." + \
        _b64(json.dumps(payload, separators=(",", ":")).encode())
    sig = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64(sig)


def decode(token, secret):
    """Return the payload of a correctly signed token; raise ValueError otherwise.
    Expiry is the caller's business."""
    try:
        head_b64, body_b64, sig_b64 = token.split(".")
        header = json.loads(_unb64(head_b64))
        if header.get("alg") != "HS256":
            raise ValueError("unsupported alg")
        expected = hmac.new(secret.encode(), f"{head_b64}.{body_b64}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(sig_b64)):
            raise ValueError("bad signature")
        payload = json.loads(_unb64(body_b64))
        if not isinstance(payload, dict):
            raise ValueError("bad payload")
        return payload
    except (ValueError, TypeError, UnicodeError) as exc:
        raise ValueError(str(exc)) from None


def sign_blob(data, secret):
    """itsdangerous-like URL-safe signed blob (used for log continuation tokens)."""
    body = _b64(json.dumps(data, separators=(",", ":")).encode())
    sig = _b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()[:12])
    return body + "." + sig


def unsign_blob(token, secret):
    try:
        body, sig = token.split(".")
        expected = _b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()[:12])
        if not hmac.compare_digest(expected, sig):
            raise ValueError("bad signature")
        return json.loads(_unb64(body))
    except (ValueError, TypeError, UnicodeError) as exc:
        raise ValueError(str(exc)) from None

"""A real JWKS endpoint on loopback, for tests of production-mode token verification."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa


def rsa_key() -> rsa.RSAPrivateKey:
    """A fresh RSA signing key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def signed(key: rsa.RSAPrivateKey, kid: str, **claims: Any) -> str:
    """An RS256 token for `acme`'s admin `alice`, valid for five minutes, with `claims` over those."""
    now = int(time.time())
    base = {"sub": "alice", "tenant": "acme", "roles": ["admin"], "iat": now, "exp": now + 300}
    return jwt.encode({**base, **claims}, key, algorithm="RS256", headers={"kid": kid})


class JwksServer:
    """Serves the public halves of the keys published so far; keys can be published and withdrawn."""

    def __init__(self, path: str = "/jwks.json") -> None:
        self.keys: dict[str, dict[str, Any]] = {}
        published = self.keys

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps({"keys": list(published.values())}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> JwksServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def publish(self, kid: str, key: rsa.RSAPrivateKey) -> None:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
        self.keys[kid] = {**public, "kid": kid, "use": "sig", "alg": "RS256"}

    def withdraw(self, kid: str) -> None:
        del self.keys[kid]

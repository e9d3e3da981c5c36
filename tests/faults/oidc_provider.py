"""A tiny OpenID Connect provider for tests, on 127.0.0.1 in a thread: discovery, JWKS, an authorize endpoint
that signs in `Provider.email` at once (no login page) and a token endpoint that returns an RS256 id_token
with the client's nonce. Enough for `st.login` to run its whole code flow against it; nothing more."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from joserfc import jwt
from joserfc.jwk import RSAKey


class Provider:
    """`with Provider(client_id, client_secret) as p:` serves at `p.issuer` until the block ends."""

    def __init__(self, client_id: str, client_secret: str, email: str = "carol@corp.example") -> None:
        self.client_id, self.client_secret, self.email = client_id, client_secret, email
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key"})
        self.codes: dict[str, dict] = {}  # code -> what the authorize request asked for
        self.tokens_issued = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def metadata_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def __enter__(self) -> Provider:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _metadata(self) -> dict:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
        }

    def _authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if query.get("client_id") != self.client_id or query.get("response_type") != "code":
            return 400, {}, b"unknown client or response type"
        code = secrets.token_urlsafe(16)
        self.codes[code] = query
        target = {"code": code, "state": query.get("state", "")}
        return 302, {"Location": f"{query['redirect_uri']}?{urllib.parse.urlencode(target)}"}, b""

    def _client_ok(self, headers, form: dict[str, str]) -> bool:
        given = (form.get("client_id"), form.get("client_secret"))
        auth = headers.get("Authorization", "")
        if auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            given = (urllib.parse.unquote(user), urllib.parse.unquote(password))
        return given == (self.client_id, self.client_secret)

    def _token(self, headers, form: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        asked = self.codes.pop(form.get("code", ""), None)  # a code is good once
        if (
            asked is None
            or not self._client_ok(headers, form)
            or form.get("redirect_uri") != asked["redirect_uri"]
        ):
            return 400, {"Content-Type": "application/json"}, b'{"error": "invalid_grant"}'
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": self.email,
            "aud": self.client_id,
            "iat": now,
            "exp": now + 600,
            "email": self.email,
            "email_verified": True,
            "name": self.email.split("@")[0].title(),
        }
        if "nonce" in asked:
            claims["nonce"] = asked["nonce"]
        id_token = jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, self.key)
        self.tokens_issued += 1
        body = {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 600}
        return 200, {"Content-Type": "application/json"}, json.dumps({**body, "id_token": id_token}).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                if path == "/.well-known/openid-configuration":
                    body = json.dumps(provider._metadata()).encode()
                    self._send(200, {"Content-Type": "application/json"}, body)
                elif path == "/jwks":
                    keys = {"keys": [{**provider.key.as_dict(private=False), "use": "sig", "alg": "RS256"}]}
                    self._send(200, {"Content-Type": "application/json"}, json.dumps(keys).encode())
                elif path == "/authorize":
                    self._send(*provider._authorize(dict(urllib.parse.parse_qsl(query))))
                else:
                    self._send(404, {}, b"not found")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                if self.path == "/token":
                    self._send(*provider._token(self.headers, form))
                else:
                    self._send(404, {}, b"not found")

        return Handler

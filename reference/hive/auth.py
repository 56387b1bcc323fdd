"""Bearer-token authentication: 401 without a token, 403 with a wrong one; never echo what was sent."""

from __future__ import annotations

import hmac

from reference.common.errors import ServiceError


class Authenticator:
    def __init__(self, token: str) -> None:
        self._token = token.encode()

    def check(self, authorization: str) -> None:
        presented = authorization[7:].strip() if authorization[:7].lower() == "bearer " else ""
        if not presented:
            raise ServiceError("UNAUTHORIZED", "a bearer token is required",
                               {"suggested_action": "Send 'Authorization: Bearer <token>'"},
                               headers={"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(presented.encode("utf-8", "replace"), self._token):
            raise ServiceError("FORBIDDEN", "the bearer token is not valid for this hive",
                               {"suggested_action": "Check the token you were given"})

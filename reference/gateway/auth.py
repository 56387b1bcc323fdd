"""Bearer-token authentication: 401 without a token, 403 with a wrong one; never echo what was sent."""

from __future__ import annotations

import hmac

from reference.common.errors import ServiceError


class Authenticator:
    def __init__(self, token: str) -> None:
        self._token = token.encode()

    def check(self, authorization: str) -> None:
        presented = authorization[7:].strip() if authorization.lower().startswith("bearer ") else ""
        if not presented:
            raise ServiceError("UNAUTHORIZED", "a bearer token is required",
                               {"suggested_action": "Send 'Authorization: Bearer <token>'"},
                               headers={"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(presented.encode(), self._token):
            raise self.rejected(presented)

    def rejected(self, presented: str) -> ServiceError:
        return ServiceError("FORBIDDEN", "the bearer token is not valid for this gateway",
                            {"suggested_action": "Check the token you were given"})

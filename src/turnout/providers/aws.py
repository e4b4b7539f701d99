"""AWS credentials and SigV4 signing, through botocore (the `turnout[aws]` extra).

The credential chain is botocore's own: environment variables (with a session token), the
shared credentials and config files (`profile:` or AWS_PROFILE), and the rest of what the
AWS CLI reads. Credentials that expire (assumed roles, SSO) refresh themselves; the refresh
may block on a file or the network, so it runs off the event loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

from turnout.errors import UpstreamHTTPError
from turnout.providers.seam import Outgoing
from turnout.redaction import SecretMask


def profile_region(profile: str | None) -> str | None:
    """The region the shared config file gives the profile, if botocore is installed."""
    try:
        import botocore.session
    except ImportError:
        return None
    value = botocore.session.Session(profile=profile).get_config_variable("region")
    return str(value) if value else None


class SigV4:
    """Signs each request over its final method, URL, headers and body."""

    def __init__(self, region: str, service: str, profile: str | None, mask: SecretMask) -> None:
        self.region = region
        self.service = service
        self.profile = profile
        self._mask = mask
        self._credentials: Any = None
        self._lock = asyncio.Lock()

    async def _frozen(self) -> Any:
        async with self._lock:
            if self._credentials is None:
                self._credentials = await asyncio.to_thread(self._resolve)
            credentials = self._credentials
        if getattr(credentials, "refresh_needed", None) is not None:
            frozen = await asyncio.to_thread(credentials.get_frozen_credentials)
        else:
            frozen = credentials.get_frozen_credentials()
        self._mask.learn([s for s in (frozen.secret_key, frozen.token) if s])
        return frozen

    def _resolve(self) -> Any:
        import botocore.session

        credentials = botocore.session.Session(profile=self.profile).get_credentials()
        if credentials is None:
            where = f"profile {self.profile!r}" if self.profile else "the default chain"
            message = (
                f"Unable to locate credentials: no AWS credentials in {where} "
                "(set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or profile:)"
            )
            raise UpstreamHTTPError(
                message, status=401, body='{"message": "' + message + '"}', log=message
            )
        return credentials

    async def sign(self, request: Outgoing) -> None:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        frozen = await self._frozen()
        aws = AWSRequest(
            method=request.method, url=request.url, data=request.body, headers=request.headers
        )
        SigV4Auth(frozen, self.service, self.region).add_auth(aws)
        request.headers = {str(k): str(v) for k, v in aws.headers.items()}

"""The error taxonomy: fifteen stable categories and the finer codes under them.

The categories are a public contract (see DESIGN.md): harnesses and outside checks branch on
them, so names never change. Codes are finer and may grow, but each belongs to exactly one
category, declared here.
"""

from __future__ import annotations

from enum import StrEnum


class Category(StrEnum):
    AUTH = "auth"
    PERMISSION = "permission"
    QUOTA = "quota"
    RATE_LIMIT = "rate_limit"
    OVERLOADED = "overloaded"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    ENDPOINT_NOT_FOUND = "endpoint_not_found"
    MODEL_NOT_FOUND = "model_not_found"
    CONTEXT_LENGTH = "context_length"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    INVALID_REQUEST = "invalid_request"
    CONTENT_POLICY = "content_policy"
    UNKNOWN = "unknown"


#: Categories where waiting and sending the same request again can succeed.
RETRYABLE: frozenset[Category] = frozenset(
    {
        Category.RATE_LIMIT,
        Category.OVERLOADED,
        Category.SERVER_ERROR,
        Category.TIMEOUT,
        Category.CONNECTION,
    }
)

#: Categories where the request itself is at fault: another path would reject it too.
#: Everything else (including the retryable ones, once retries are spent) is worth a failover.
NO_FAILOVER: frozenset[Category] = frozenset(
    {Category.INVALID_REQUEST, Category.CONTENT_POLICY, Category.PAYLOAD_TOO_LARGE}
)

_C = Category

#: Every finer code and the category it belongs to.
CODES: dict[str, Category] = {
    # auth
    "invalid_api_key": _C.AUTH,
    "missing_api_key": _C.AUTH,
    "oauth_token_expired": _C.AUTH,
    "credential_expired": _C.AUTH,
    "entra_client_secret_invalid": _C.AUTH,
    "entra_app_not_found": _C.AUTH,
    "entra_tenant_not_found": _C.AUTH,
    "clock_skew": _C.AUTH,
    # permission
    "client_restricted_credential": _C.PERMISSION,
    "region_unsupported": _C.PERMISSION,
    "waf_block": _C.PERMISSION,
    "model_access_denied": _C.PERMISSION,
    "organization_restricted": _C.PERMISSION,
    "permission_denied": _C.PERMISSION,
    # quota
    "subscription_usage_gate": _C.QUOTA,
    "subscription_window_limit": _C.QUOTA,
    "subscription_weekly_limit": _C.QUOTA,
    "subscription_model_limit": _C.QUOTA,
    "plan_usage_limit": _C.QUOTA,
    "insufficient_balance": _C.QUOTA,
    "insufficient_quota": _C.QUOTA,
    "spend_limit": _C.QUOTA,
    "free_tier_exhausted": _C.QUOTA,
    "relay_quota_exhausted": _C.QUOTA,
    "quota_exceeded": _C.QUOTA,
    "gateway_budget_exhausted": _C.QUOTA,
    # rate_limit
    "rate_limited": _C.RATE_LIMIT,
    "concurrency_limit": _C.RATE_LIMIT,
    # overloaded
    "provider_overloaded": _C.OVERLOADED,
    "relay_upstream_saturated": _C.OVERLOADED,
    # server_error
    "upstream_server_error": _C.SERVER_ERROR,
    "bad_gateway": _C.SERVER_ERROR,
    "service_unavailable": _C.SERVER_ERROR,
    "cdn_error_page": _C.SERVER_ERROR,
    "stream_interrupted": _C.SERVER_ERROR,
    # timeout
    "request_timeout": _C.TIMEOUT,
    "gateway_timeout": _C.TIMEOUT,
    "read_timeout": _C.TIMEOUT,
    # connection
    "local_server_down": _C.CONNECTION,
    "connection_refused": _C.CONNECTION,
    "dns_failure": _C.CONNECTION,
    "tls_error": _C.CONNECTION,
    "connection_reset": _C.CONNECTION,
    "proxy_error": _C.CONNECTION,
    "connection_failed": _C.CONNECTION,
    # endpoint_not_found
    "base_url_mistake": _C.ENDPOINT_NOT_FOUND,
    "endpoint_not_found": _C.ENDPOINT_NOT_FOUND,
    "method_not_allowed": _C.ENDPOINT_NOT_FOUND,
    "gateway_loop": _C.ENDPOINT_NOT_FOUND,
    # model_not_found
    "model_not_found": _C.MODEL_NOT_FOUND,
    "gateway_no_route": _C.MODEL_NOT_FOUND,
    "relay_no_channel": _C.MODEL_NOT_FOUND,
    "model_deprecated": _C.MODEL_NOT_FOUND,
    # context_length
    "context_length_exceeded": _C.CONTEXT_LENGTH,
    # payload_too_large
    "payload_too_large": _C.PAYLOAD_TOO_LARGE,
    # invalid_request
    "invalid_request": _C.INVALID_REQUEST,
    "unsupported_parameter": _C.INVALID_REQUEST,
    "invalid_tool_schema": _C.INVALID_REQUEST,
    "unsupported_capability": _C.INVALID_REQUEST,
    "invalid_json": _C.INVALID_REQUEST,
    "api_version_unsupported": _C.INVALID_REQUEST,
    # content_policy
    "content_filtered": _C.CONTENT_POLICY,
    # unknown
    "unknown": _C.UNKNOWN,
}

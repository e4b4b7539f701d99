"""diagnose() as a library: the contract of DESIGN.md, read on small examples."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from turnout import Category, diagnose
from turnout.diagnosis.engine import explain_code, packaged_rules
from turnout.diagnosis.messages import LANGUAGES, advice_for
from turnout.diagnosis.rules import load_rules
from turnout.diagnosis.taxonomy import CODES, RETRYABLE

EXTRA_USAGE = (
    '{"type":"error","error":{"type":"invalid_request_error","message":"You\'re out of extra '
    'usage. Add more at claude.ai/settings/usage and keep going."}}'
)


def test_the_body_decides_over_the_status() -> None:
    assert diagnose(status=400, body=EXTRA_USAGE).category is Category.QUOTA
    quota = '{"error":{"message":"You exceeded your current quota","type":"insufficient_quota"}}'
    assert diagnose(status=429, body=quota).code == "insufficient_quota"
    relay = '{"error":{"message":"当前分组 default 下对于模型 gpt-4o 无可用渠道"}}'
    assert diagnose(status=503, body=relay).category is Category.MODEL_NOT_FOUND


@pytest.mark.parametrize("category", list(Category))
def test_retryable_exactly_for_the_transient_categories(category: Category) -> None:
    code = next(code for code, cat in CODES.items() if cat is category)
    assert (category in RETRYABLE) == (
        category
        in {
            Category.RATE_LIMIT,
            Category.OVERLOADED,
            Category.SERVER_ERROR,
            Category.TIMEOUT,
            Category.CONNECTION,
        }
    ), code


def test_status_alone_falls_back_by_table() -> None:
    book = packaged_rules()
    for status, code in book.status_fallback.items():
        result = diagnose(status=status, body="")
        assert (result.code, result.rule) == (code, f"status.{status}")
    assert diagnose(status=418).category is Category.INVALID_REQUEST
    assert diagnose(status=599).category is Category.SERVER_ERROR


def test_nothing_known_is_unknown_and_not_retryable() -> None:
    result = diagnose(body="something odd happened")
    assert (result.category, result.retryable, result.rule) == (Category.UNKNOWN, False, None)


def test_failover_is_false_only_when_the_request_is_at_fault() -> None:
    assert diagnose(status=400, body=EXTRA_USAGE).failover is True
    bad = '{"error":{"message":"Unrecognized request argument supplied: foo"}}'
    assert diagnose(status=400, body=bad).failover is False
    assert diagnose(status=503).failover is True


@pytest.mark.parametrize(
    ("window", "code"),
    [
        ("5h-", "subscription_window_limit"),
        ("7d-", "subscription_weekly_limit"),
        ("7d_oi-", "subscription_model_limit"),  # window names carry underscores
        ("", "plan_usage_limit"),  # the overall status alone does not say which window
    ],
)
def test_a_pasted_rejected_unified_window_names_the_limit(window: str, code: str) -> None:
    log = f"HTTP 429 rate_limit_error\nanthropic-ratelimit-unified-{window}status: rejected"
    result = diagnose(log=log)
    assert (result.category, result.code) == (Category.QUOTA, code)


#: A subscription's 429 as it arrives (the body Claude Code's 5-hour reports carry, e.g.
#: anthropics/claude-code#7641), the unified headers saying which window refused it.
ACCOUNT_LIMIT = (
    '{"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed '
    "your account's rate limit. Please try again later.\"}}"
)


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        (
            {
                "anthropic-ratelimit-unified-status": "rejected",
                "anthropic-ratelimit-unified-5h-status": "rejected",
                "anthropic-ratelimit-unified-5h-reset": "1796317200",
                "anthropic-ratelimit-unified-representative-claim": "five_hour",
            },
            "subscription_window_limit",
        ),
        (
            {
                "anthropic-ratelimit-unified-status": "rejected",
                "anthropic-ratelimit-unified-5h-status": "allowed",
                "anthropic-ratelimit-unified-7d-status": "rejected",
            },
            "subscription_weekly_limit",
        ),
        (  # only the representative claim names the window: a weekly limit of Opus
            {
                "anthropic-ratelimit-unified-status": "rejected",
                "anthropic-ratelimit-unified-representative-claim": "seven_day_opus",
            },
            "subscription_model_limit",
        ),
        (  # the shared windows allowed, one model family's weekly window rejected
            # (router-for-me/CLIProxyAPI#5033)
            {
                "anthropic-ratelimit-unified-status": "rejected",
                "anthropic-ratelimit-unified-5h-status": "allowed",
                "anthropic-ratelimit-unified-7d-status": "allowed",
                "anthropic-ratelimit-unified-7d_oi-status": "rejected",
            },
            "subscription_model_limit",
        ),
    ],
)
def test_real_unified_headers_name_the_window_that_refused(
    headers: dict[str, str], code: str
) -> None:
    result = diagnose(status=429, body=ACCOUNT_LIMIT, headers=headers, provider="anthropic")
    assert (result.category, result.code, result.retryable) == (Category.QUOTA, code, False)


def test_a_claim_without_a_rejection_is_an_ordinary_rate_limit() -> None:
    """The headers ride on every answer; a 429 while the plan still allows is a throttle."""
    headers = {
        "anthropic-ratelimit-unified-status": "allowed",
        "anthropic-ratelimit-unified-representative-claim": "five_hour",
    }
    result = diagnose(status=429, body=ACCOUNT_LIMIT, headers=headers, provider="anthropic")
    assert result.category is Category.RATE_LIMIT


def test_rejected_headers_on_another_error_do_not_make_it_a_limit() -> None:
    """With extra usage in use the overall status is rejected while requests are served: an
    error of the request itself keeps its own reading."""
    headers = {
        "anthropic-ratelimit-unified-status": "rejected",
        "anthropic-ratelimit-unified-5h-status": "rejected",
        "anthropic-ratelimit-unified-overage-status": "allowed",
    }
    body = (
        '{"type":"error","error":{"type":"invalid_request_error",'
        '"message":"prompt is too long: 212000 tokens > 200000 maximum"}}'
    )
    result = diagnose(status=400, body=body, headers=headers, provider="anthropic")
    assert result.category is Category.CONTEXT_LENGTH


def test_the_codex_usage_limit_says_when_it_lifts() -> None:
    """The usage_limit_reached body as the Codex path sends it (earendil-works/pi#4172)."""
    body = (
        '{"type":"error","error":{"type":"usage_limit_reached","message":"The usage limit has '
        'been reached","plan_type":"plus","resets_at":1777936568,"eligible_promo":null,'
        '"resets_in_seconds":13872}}'
    )
    result = diagnose(status=429, body=body, provider="openai")
    assert (result.category, result.code, result.retry_after_s) == (
        Category.QUOTA,
        "plan_usage_limit",
        13872,
    )


def test_the_limits_words_say_what_helps_and_never_restart_or_login() -> None:
    """Extra usage is the remedy only of the extra-usage gate; a window limit says to wait for
    its reset; a model family's limit says another model helps. In both languages."""
    for code in (
        "subscription_window_limit",
        "subscription_weekly_limit",
        "subscription_model_limit",
        "plan_usage_limit",
    ):
        for lang in ("en", "zh"):
            advice = explain_code(code, lang=lang)
            assert advice.category is Category.QUOTA
            words = " ".join((advice.title, advice.explanation, *advice.actions))
            assert "Restart" not in words
            assert "重启" not in words
            assert "log in again" not in words.lower()
            assert "重新登录" not in words
            assert "out of extra usage" not in words.lower()
    window = explain_code("subscription_window_limit", lang="en")
    assert window.actions[0].startswith("Wait for the window to reset")
    assert "Switching to another model on the same plan" in " ".join(window.wont_help)
    model = explain_code("subscription_model_limit", lang="en")
    assert model.actions[0].startswith("Switch to another model family")
    gate = explain_code("subscription_usage_gate", lang="en")
    assert "extra usage" in gate.actions[0]


def test_seed_article_log_is_a_subscription_usage_gate() -> None:
    log = """⚠️ API call failed (attempt 1/3): BadRequestError [HTTP 400]
🔌 Provider: anthropic Model: claude-sonnet-4-6
🌐 Endpoint: https://api.anthropic.com
📝 Error: HTTP 400: You're out of extra usage. Add more at claude.ai/settings/usage and keep going.
📋 Details: {'type': 'error', 'error': {'type': 'invalid_request_error', 'message': "You're out of extra usage. Add more at claude.ai/settings/usage and keep going."}, 'request_id': ''}
"""
    result = diagnose(log=log, lang="en")
    assert (result.category, result.code) == (Category.QUOTA, "subscription_usage_gate")
    assert (result.status, result.provider, result.model, result.endpoint) == (
        400,
        "anthropic",
        "claude-sonnet-4-6",
        "https://api.anthropic.com",
    )
    assert "Restarting the agent" in " ".join(result.wont_help)
    assert "anthropic" in result.explanation


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({"retry-after": "30"}, "", 30.0),
        ({"retry-after-ms": "1500"}, "", 1.5),
        ({"retry-after": "Wed, 25 Nov 2026 12:01:00 GMT"}, "", 60.0),
        ({"x-ratelimit-reset-requests": "6m0s", "x-ratelimit-remaining-requests": "0"}, "", 360.0),
        (
            {
                "anthropic-ratelimit-tokens-reset": "2026-11-25T12:00:20Z",
                "anthropic-ratelimit-tokens-remaining": "0",
            },
            "",
            20.0,
        ),
        ({}, '{"error":{"message":"Rate limit reached. Please try again in 9m38s."}}', 578.0),
        (
            {},
            '{"error":{"message":"Requests have exceeded call rate limit. Please retry after 6 seconds."}}',
            6.0,
        ),
        (
            {},
            '{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"37s"}]}}',
            37.0,
        ),
    ],
)
def test_retry_after_sources(headers: dict[str, str], body: str, expected: float) -> None:
    now = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
    result = diagnose(status=429, body=body, headers=headers, now=now)
    assert result.retry_after_s == pytest.approx(expected)


def test_plan_reset_clock_time_is_read_in_its_zone() -> None:
    now = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
    result = diagnose(log="5-hour limit reached ∙ resets 4pm (UTC)", provider="anthropic", now=now)
    assert (result.code, result.retry_after_s) == ("subscription_window_limit", 4 * 3600)
    berlin = diagnose(
        log="Claude usage limit reached. Your limit will reset at 3pm (Europe/Berlin).",
        provider="anthropic",
        now=now,
    )
    assert berlin.retry_after_s == 2 * 3600  # 3pm in Berlin is 14:00 UTC in November


def test_chinese_explanations_for_every_code_and_category() -> None:
    for code, category in CODES.items():
        for lang in LANGUAGES:
            advice = advice_for(code, category, lang)
            assert advice.title, (code, lang)
            assert advice.explanation, (code, lang)
            assert advice.actions, (code, lang)
    zh = diagnose(status=400, body=EXTRA_USAGE, lang="zh")
    assert zh.lang == "zh"
    assert any("\u4e00" <= ch <= "\u9fff" for ch in zh.title)


def test_default_language_follows_the_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LC_ALL", "LC_MESSAGES", "LANGUAGE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    assert diagnose(status=429).lang == "zh"
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    assert diagnose(status=429).lang == "en"


def test_connection_refused_to_a_local_server_says_it_is_not_running() -> None:
    local = diagnose(
        log="httpx.ConnectError: [Errno 111] Connection refused", endpoint="http://127.0.0.1:11434"
    )
    remote = diagnose(
        log="httpx.ConnectError: [Errno 111] Connection refused",
        endpoint="https://relay.example/v1",
    )
    assert (local.code, remote.code) == ("local_server_down", "connection_refused")
    assert local.provider == "ollama"


def test_a_bad_rule_table_is_refused_with_its_id() -> None:
    with pytest.raises(ValueError, match=r"rule x\.y: unknown code"):
        load_rules('[[rule]]\nid = "x.y"\ncode = "nope"\n')
    with pytest.raises(ValueError, match="unknown keys"):
        load_rules('[[rule]]\nid = "x.y"\ncode = "unknown"\nphrase = ["a"]\n')


RULES_WITH_TABLES = '[[rule]]\nid = "t.early"\ntables = "early"\n'


def test_a_code_table_must_name_its_document_and_its_providers() -> None:
    """A documented code is only as good as the document: a table without its https address,
    or a bare status without the one provider that documents it, is refused at load."""
    table = '[[table]]\nid = "p"\ncodes = {{ x = "rate_limited" }}\n{extra}'
    load_rules(RULES_WITH_TABLES, table.format(extra='source = "https://example.com/errors"\n'))
    with pytest.raises(ValueError, match="code table p: source must be the document's https"):
        load_rules(RULES_WITH_TABLES, table.format(extra='source = "http://example.com/e"\n'))
    with pytest.raises(ValueError, match="statuses need strict providers"):
        load_rules(
            RULES_WITH_TABLES,
            table.format(
                extra='source = "https://e.com/x"\nstatuses = { 402 = "quota_exceeded" }\n'
            ),
        )


def test_to_dict_has_the_stable_fields() -> None:
    data = diagnose(status=400, body=EXTRA_USAGE).to_dict()
    for field in (
        "category",
        "retryable",
        "failover",
        "retry_after_s",
        "code",
        "title",
        "explanation",
        "actions",
        "wont_help",
        "provider",
        "model",
        "endpoint",
        "status",
        "rule",
    ):
        assert field in data
    assert data["category"] == "quota"
    assert isinstance(data["actions"], list)


def test_huge_and_hostile_bodies_are_read_safely() -> None:
    nested = "[" * 5000 + "]" * 5000
    assert diagnose(status=500, body=nested).category is Category.SERVER_ERROR
    big = '{"error":{"message":"' + "x" * 2_000_000 + '"}}'
    assert diagnose(status=400, body=big).category is Category.INVALID_REQUEST
    assert diagnose(log="{'a': " * 3000).category is Category.UNKNOWN


# Real texts (from the corpus, source in the comment) that carry the words of a gating category
# while the error is transient: read by their structure, none may take a credential out of use.
TRANSIENT_WITH_GATING_WORDS = [
    # https://github.com/datawhalechina/llm-cookbook/issues/8: a billing link in a rate limit
    (
        429,
        "Rate limit reached for default-gpt-3.5-turbo in organization org-key on requests per "
        "min. Limit: 3 / min. Please try again in 20s. Contact us through our help center at "
        "help.openai.com if you continue to have issues. Please add a payment method to your "
        "account to increase your rate limit. Visit https://platform.openai.com/account/billing "
        "to add a payment method.",
        Category.RATE_LIMIT,
    ),
    # https://github.com/songquanpeng/one-api/issues/330: a relay's saturation typed billing_not_active
    (
        None,
        '{"error":{"message":"当前分组负载已饱和，请稍后再试，或升级账户以提升服务质量。",'
        '"type":"billing_not_active","param":"","code":"billing_not_active"}}',
        Category.OVERLOADED,
    ),
    # https://github.com/alex-wolf-ps/dbchatprov2/issues/2: a quota-increase link in a rate limit
    (
        429,
        "HTTP 429 (429) Requests to the ChatCompletions_Create Operation under Azure OpenAI API "
        "version 2024-05-01-preview have exceeded token rate limit of your current OpenAI S0 "
        "pricing tier. Please retry after 86400 seconds. Please go here: "
        "https://aka.ms/oai/quotaincrease if you would like to further increase the default "
        "rate limit.",
        Category.RATE_LIMIT,
    ),
]


@pytest.mark.parametrize(("status", "body", "expected"), TRANSIENT_WITH_GATING_WORDS)
def test_gating_words_in_passing_do_not_gate(
    status: int | None, body: str, expected: Category
) -> None:
    result = diagnose(status=status, body=body)
    assert (result.category, result.retryable) == (expected, True), result.rule


def test_a_429_that_only_guesses_at_quota_stays_a_rate_limit() -> None:
    # https://github.com/QwenLM/qwen-code/issues/882: the harness guesses, the status decides.
    log = (
        "✕ [API Error: 429 status code (no body)]\n"
        "  Possible quota limitations in place or slow response times detected. Switching to "
        "the gemini-2.5-flash model for the rest of this session."
    )
    assert diagnose(log=log).category is Category.RATE_LIMIT


# https://github.com/google-gemini/gemini-cli/issues/5191: one overload body in the framings
# harnesses print it in; each framing must keep it transient.
OVERLOADED_503 = '{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}'


@pytest.mark.parametrize(
    "fields",
    [
        {"status": 503, "body": OVERLOADED_503},
        {"log": f"[API Error: got status: UNAVAILABLE. {OVERLOADED_503}]"},
        {"log": f"API Error: 503 {OVERLOADED_503}"},
        {"log": f"openai.InternalServerError: Error code: 503 - {OVERLOADED_503}"},
        {"log": f"📝 Error: HTTP 503: {OVERLOADED_503}\n🔌 Provider: gemini Model: gemini-2.5-pro"},
    ],
)
def test_an_overload_is_transient_in_every_framing(fields: dict[str, object]) -> None:
    result = diagnose(**fields)  # type: ignore[arg-type]
    assert (result.category, result.retryable) == (Category.OVERLOADED, True), result.rule


@pytest.mark.parametrize(
    ("log", "status"),
    [
        ("openai.BadRequestError: Unsupported data type", 400),
        ("litellm.RateLimitError: VertexAIException - something", 429),
        ("anthropic.AuthenticationError: invalid x-api-key", 401),
        ("raise NotFoundError(...)", 404),
        ("ModelNotFoundError: no such thing", None),
    ],
)
def test_sdk_exception_names_stand_for_their_status(log: str, status: int | None) -> None:
    assert diagnose(log=log).status == status


def test_a_request_larger_than_its_whole_allowance_is_quota_not_a_wait() -> None:
    # https://github.com/OpenHands/OpenHands/pull/4167: nothing used, one request too big.
    too_big = (
        "Rate limit reached for model `llama-3.2-90b-text-preview` in organization "
        "`org_01hw3vhh15fzp94dj7n1w3nfm9` on tokens per minute (TPM): Limit 7000, Used 0, "
        "Requested 7895. Please try again in 7.671428571s."
    )
    # A Groq daily window nearly used up: the same wording, but this request fits the limit.
    fits = (
        "Rate limit reached for model `llama-3.3-70b-versatile` in organization "
        "`org_01kjh7p9n8f1qs6nz2bz77vy6b` service tier `on_demand` on tokens per day (TPD): "
        "Limit 100000, Used 97050, Requested 3619. Please try again in 9m38.016s."
    )
    assert diagnose(status=429, body=too_big).category is Category.QUOTA
    assert diagnose(status=429, body=fits).category is Category.RATE_LIMIT


# The providers' published error tables (data/codes.toml): a documented code, in a body shaped
# as that provider sends it, reads as the document says.
DOCUMENTED_CODES = [
    # Anthropic, https://docs.anthropic.com/en/api/errors
    (
        402,
        '{"type":"error","error":{"type":"billing_error","message":"Billing issue"}}',
        None,
        "insufficient_balance",
    ),
    (
        429,
        '{"type":"error","error":{"type":"rate_limit_error","message":"Limit reached",'
        '"details":{"error_code":"enforced_spend_limit_reached"}}}',
        None,
        "spend_limit",
    ),
    # Gemini's google.rpc status and ErrorInfo reason, ai.google.dev troubleshooting and
    # google.api.ErrorReason
    (
        None,
        '{"error":{"code":503,"message":"Try later.","status":"UNAVAILABLE"}}',
        "gemini",
        "service_unavailable",
    ),
    (
        403,
        '{"error":{"code":403,"message":"Denied.","status":"PERMISSION_DENIED","details":[{'
        '"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"BILLING_DISABLED"}]}}',
        "gemini",
        "quota_exceeded",
    ),
    (
        401,
        '{"error":{"code":401,"message":"Expired.","status":"UNAUTHENTICATED","details":[{'
        '"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"ACCESS_TOKEN_EXPIRED"}]}}',
        "vertex",
        "oauth_token_expired",
    ),
    # Bedrock runtime exceptions, docs.aws.amazon.com
    (429, '{"message":"Wait."}', "bedrock", "provider_overloaded"),
    (424, '{"message":"Stream broke."}', "bedrock", "stream_interrupted"),
    # Kimi (Moonshot), platform.kimi.ai/docs/api/errors
    (
        429,
        '{"error":{"type":"engine_overloaded_error","message":"Try again later"}}',
        "moonshot",
        "provider_overloaded",
    ),
    (
        404,
        '{"error":{"type":"resource_not_found_error","message":"kimi-x"}}',
        "moonshot",
        "model_not_found",
    ),
    # Zhipu BigModel / Z.ai business codes, docs.bigmodel.cn/cn/faq/api-code
    (429, '{"error":{"code":"1310","message":"reset soon"}}', "zhipu", "subscription_weekly_limit"),
    (429, '{"error":{"code":"1312","message":"busy"}}', "zhipu", "provider_overloaded"),
    (401, '{"error":{"code":"1001","message":"header"}}', "zhipu", "missing_api_key"),
    # Baidu Qianfan, ai.baidu.com/ai-doc/WENXINWORKSHOP/tlmyncueh
    (200, '{"error_code":18,"error_msg":"qps"}', "qianfan", "rate_limited"),
    (200, '{"error_code":17,"error_msg":"daily"}', "qianfan", "quota_exceeded"),
    # DashScope (Bailian), help.aliyun.com/en/model-studio/error-code
    (
        400,
        '{"code":"Arrearage","message":"Access denied.","request_id":"x"}',
        "dashscope",
        "insufficient_balance",
    ),
    # SiliconFlow, docs.siliconflow.cn/en/faqs/error-code
    (400, '{"code":20012,"message":"check it","data":null}', "siliconflow", "model_not_found"),
]


@pytest.mark.parametrize(("status", "body", "provider", "code"), DOCUMENTED_CODES)
def test_a_documented_code_reads_as_its_provider_documents_it(
    status: int | None, body: str, provider: str | None, code: str
) -> None:
    headers = None
    if provider == "bedrock":
        # Bedrock names its exception in a header; the body holds only the message.
        name = {"provider_overloaded": "ModelNotReadyException"}.get(
            code, "ModelStreamErrorException"
        )
        headers = {"x-amzn-ErrorType": f"{name}:http://internal.amazon.com/coral/"}
    result = diagnose(status=status, body=body, headers=headers, provider=provider)
    assert result.code == code, result.rule


@pytest.mark.parametrize(
    ("provider", "status", "code"),
    [
        ("deepseek", 503, "provider_overloaded"),  # api-docs.deepseek.com: Server Overloaded
        ("deepseek", 402, "insufficient_balance"),
        ("groq", 498, "provider_overloaded"),  # console.groq.com: flex capacity exceeded
        ("moonshot", 403, "insufficient_balance"),  # kimi.com help: 403 is an empty balance
        ("openai", 503, "service_unavailable"),  # no table: the generic status table
    ],
)
def test_a_bare_status_reads_as_that_provider_documents_it(
    provider: str, status: int, code: str
) -> None:
    assert diagnose(status=status, body="", provider=provider).code == code


def test_a_number_documented_by_one_provider_is_not_read_for_another() -> None:
    # Zhipu's 1002 is an invalid token; the same number from an unknown service says nothing,
    # and Mistral's "code": "1300" is its rate limit, not Zhipu's policy block.
    assert diagnose(status=503, body='{"code":1002,"message":"x"}').category is (
        Category.SERVER_ERROR
    )
    mistral = '{"object":"error","message":"Requests rate limit exceeded","code":"1300"}'
    assert diagnose(status=429, body=mistral, provider="mistral").category is Category.RATE_LIMIT


def test_escaped_non_ascii_messages_are_read_as_written() -> None:
    # json.dumps escapes Chinese by default: the phrases still read the provider's words.
    body = '{"error":{"message":"\\u60a8\\u7684\\u8d26\\u6237\\u5df2\\u6b20\\u8d39"}}'
    assert diagnose(status=429, body=body).category is Category.QUOTA

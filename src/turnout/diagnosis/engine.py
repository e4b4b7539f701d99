"""diagnose(): from a status, body, headers or a pasted log to a `Diagnosis`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import cache

from turnout.diagnosis.facts import gather, parse_body
from turnout.diagnosis.gateway_reply import NoPathReply, read_no_path_reply
from turnout.diagnosis.logs import read_log
from turnout.diagnosis.messages import (
    advice_for,
    gateway_texts,
    normalize_language,
    path_sentence,
)
from turnout.diagnosis.model import Diagnosis
from turnout.diagnosis.origin import (
    is_local_target,
    normalize_provider,
    provider_from_text,
    provider_from_url,
)
from turnout.diagnosis.retry_after import retry_after_seconds
from turnout.diagnosis.rules import RuleBook, load_rules
from turnout.diagnosis.taxonomy import CODES, NO_FAILOVER, RETRYABLE, Category

#: Categories where a wait time is worth reporting (quota: when the plan says when it resets).
_TIMED = RETRYABLE | {Category.QUOTA}
_KNOWN_CODES = frozenset(CODES)


@cache
def packaged_rules() -> RuleBook:
    return load_rules()


def explain_code(
    code: str,
    *,
    lang: str | None = None,
    message: str | None = None,
    retry_after_s: float | None = None,
    provider: str | None = None,
    model: str | None = None,
) -> Diagnosis:
    """A diagnosis for a situation the caller already knows by its code (the gateway's own
    refusals, such as an exhausted gateway budget), with the same texts as `diagnose`."""
    return _explained(
        code,
        lang,
        retry_after_s=retry_after_s,
        provider=provider,
        model=model,
        message=message,
    )


def _explained(
    code: str,
    lang: str | None,
    *,
    retry_after_s: float | None = None,
    rule: str | None = None,
    status: int | None = None,
    provider: str | None = None,
    model: str | None = None,
    endpoint: str | None = None,
    message: str | None = None,
    named: str | None = None,
) -> Diagnosis:
    """A code with its decision and its texts in the asked language. `named` is the provider
    as the caller spelled it, for the explanation; `provider` is its family."""
    category = CODES[code]
    language = normalize_language(lang)
    advice = advice_for(code, category, language)
    where = path_sentence(language, named or provider, model, endpoint)
    return Diagnosis(
        category=category,
        code=code,
        retryable=category in RETRYABLE,
        failover=category not in NO_FAILOVER,
        retry_after_s=retry_after_s,
        title=advice.title,
        explanation=f"{advice.explanation} {where}".strip(),
        actions=advice.actions,
        wont_help=advice.wont_help,
        rule=rule,
        status=status,
        provider=provider,
        model=model,
        endpoint=endpoint,
        message=message,
        lang=language,
    )


def diagnose(
    status: int | None = None,
    body: str | None = "",
    headers: Mapping[str, str] | None = None,
    provider: str | None = None,
    log: str | None = None,
    lang: str | None = None,
    *,
    model: str | None = None,
    endpoint: str | None = None,
    now: datetime | None = None,
) -> Diagnosis:
    """Classify one provider error and explain it in `lang` ("en" or "zh"; default: locale).

    Give what you have: a status and body as the provider sent them, or a pasted `log`
    (a harness's failure block, an SDK exception, a curl error). The body decides over the
    status. `now` fixes the clock for reset times given as wall-clock times.
    """
    body = body or ""
    lowered_headers = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
    parsed = None
    if log:
        reading = read_log(log)
        status = status if status is not None else reading.status
        if not body:
            body, parsed = reading.body, reading.parsed
        provider = provider or reading.provider
        model = model or reading.model
        endpoint = endpoint or reading.endpoint
    if parsed is None:
        parsed = parse_body(body)
    reply = read_no_path_reply(parsed, _KNOWN_CODES)
    if reply is not None:
        return _no_path(reply, lang, status, lowered_headers, now)
    family = (
        normalize_provider(provider)
        or provider_from_url(endpoint)
        or provider_from_text(log or body[:2048], parsed)
    )
    facts = gather(status, body, lowered_headers, parsed=parsed, extra_text=log or "")
    facts.provider = family
    facts.is_local = is_local_target(endpoint, family, facts.text)
    rule_id, code = packaged_rules().classify(facts)
    category = CODES[code]
    retry_after = None
    if category in _TIMED:
        retry_after = retry_after_seconds(lowered_headers, facts.text, facts.retry_delay, now)
    return _explained(
        code,
        lang,
        retry_after_s=round(retry_after, 3) if retry_after is not None else None,
        rule=rule_id,
        status=status,
        provider=family,
        model=model,
        endpoint=endpoint,
        message=facts.message,
        named=provider,
    )


def _no_path(
    reply: NoPathReply,
    lang: str | None,
    status: int | None,
    headers: Mapping[str, str],
    now: datetime | None,
) -> Diagnosis:
    """The gateway's own all-paths-failed reply: the deciding path's reason and advice, the
    list of paths, and no provider or endpoint (the address it came from is the gateway's)."""
    language = normalize_language(lang)
    texts = gateway_texts("no_path", language)
    category = CODES[reply.code]
    advice = advice_for(reply.code, category, language)
    paths = texts["path_separator"].join(
        texts["path"].format(
            path=p.path, outcome=f"{p.outcome} ({p.code})" if p.code else p.outcome
        )
        for p in reply.paths
    )
    retry_after = retry_after_seconds(headers, "", None, now) if category in _TIMED else None
    return Diagnosis(
        category=category,
        code=reply.code,
        retryable=category in RETRYABLE,
        failover=category not in NO_FAILOVER,
        retry_after_s=round(retry_after, 3) if retry_after is not None else None,
        title=texts["title"].format(model=reply.model),
        explanation=texts["explanation"].format(
            model=reply.model,
            paths=paths + texts["paths_ending"] if paths else "",
            reason=f"{category.value}/{reply.code}, {advice.title}",
        ),
        actions=(*advice.actions, texts["extra_action"]),
        wont_help=(texts["extra_wont_help"], *advice.wont_help),
        rule="turnout.no_path",
        status=status,
        model=reply.model,
        lang=language,
    )

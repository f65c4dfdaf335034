"""The saga definition document (SPEC §2) as pydantic models.

The models check the shape of a document and every value on its own (types, unknown keys, name
syntax, durations, URLs, status patterns, header names). Checks that relate several values (step
order, unique names, merged retry intervals) live in `consistency`. Durations are converted to
milliseconds here, so the compiler reads `timeout` as an int.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import jsonschema
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from coordinator.core.spec import RETRY_ON_CONNECT, RETRY_ON_TIMEOUT, StatusPattern
from coordinator.definition.expressions import TemplateSyntaxError, parse_template
from coordinator.definition.urls import MAX_URL_LENGTH, split_url
from coordinator.durations import parse_duration_ms

MAX_STEPS = 100
"""Steps (and group members) in one saga: a long checkout or onboarding, and what the console must draw."""
MAX_GROUP_MEMBERS = 32
"""At most this many members in one parallel group (SPEC section 7.1)."""
STEP_TAG = "<step>"
GROUP_TAG = "<group>"
"""The tags that tell a step entry from a group entry; `compiler` drops them from problem paths."""
MAX_HEADERS = 50
MAX_HEADER_VALUE = 8 * 1024
MAX_TIMEOUT_MS = 3_600_000
MAX_VERSION = 2**31 - 1
"""Versions are stored as 32-bit-safe integers on every database."""
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")

SAGA_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")
STEP_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_STEP_NAME_MAX = 64
# RFC 9110 token characters: anything else (CR, LF, spaces, colons) could split or forge headers.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_BAD_HEADER_CHAR = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# Set by the coordinator (idempotency and tracing) or by the HTTP client (framing): a definition
# overriding them would break at-least-once delivery or request smuggling defences.
RESERVED_HEADERS = frozenset(
    {
        "idempotency-key",
        "x-saga-execution-id",
        "x-saga-callback-url",
        "x-saga-step",
        "traceparent",
        "tracestate",
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "upgrade",
        "te",
        "trailer",
        "keep-alive",
        "proxy-connection",
    }
)

_DURATION_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "pattern": r"^\s*(([0-9]+(\.[0-9]+)?(ms|s|m|h))+|[0-9]+(\.[0-9]+)?)\s*$"},
        {"type": "number", "minimum": 0},
    ],
    "description": "250ms, 5s, 2m, 1h, 1m30s, or a number of seconds",
}
_STATUS_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "pattern": "^[1-5]([0-9][0-9]|xx)$"},
        {"type": "integer", "minimum": 100, "maximum": 599},
    ],
    "description": "a status class such as 2xx or an exact code such as 404",
}
_RETRY_ON_SCHEMA: dict[str, Any] = {
    "anyOf": [{"enum": [RETRY_ON_TIMEOUT, RETRY_ON_CONNECT]}, *_STATUS_SCHEMA["anyOf"]],
    "description": "timeout, connect, a status class such as 5xx or an exact code such as 429",
}


def _saga_name(value: str) -> str:
    if not SAGA_NAME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid saga name: 1 to 100 characters of a-z, 0-9, '.', '_' and '-', "
            "starting with a letter or digit"
        )
    return value


def _step_name(value: str) -> str:
    if not STEP_NAME.fullmatch(value) or len(value) > _STEP_NAME_MAX:
        raise ValueError(
            f"{value!r} is not a valid step name: an identifier of a-z, 0-9 and '_' that does not "
            f"start with a digit, at most {_STEP_NAME_MAX} characters"
        )
    return value


def _duration(value: Any) -> int:
    return parse_duration_ms(value)


def _positive_duration(value: Any) -> int:
    ms = parse_duration_ms(value)
    if ms <= 0:
        raise ValueError("must be more than 0")
    return ms


def _timeout(value: Any) -> int:
    ms = parse_duration_ms(value)
    if not 0 < ms <= MAX_TIMEOUT_MS:
        raise ValueError("a timeout must be more than 0 and at most 1h")
    return ms


def _method(value: Any) -> str:
    if not isinstance(value, str) or value.upper() not in METHODS:
        raise ValueError(f"method {value!r} is not one of {', '.join(METHODS)}")
    return value.upper()


def _url(value: str) -> str:
    split_url(value)
    return value


def _status(value: Any) -> str:
    # YAML reads an unquoted 404 as a number; it means the same as "404".
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not StatusPattern.is_valid(text):
        raise ValueError(f"{value!r} is not a status pattern: use a class such as '2xx' or a code such as '404'")
    return text


def _retry_on(value: Any) -> str:
    if value in (RETRY_ON_TIMEOUT, RETRY_ON_CONNECT):
        return str(value)
    try:
        return _status(value)
    except ValueError:
        raise ValueError(
            f"{value!r} is not a retry condition: use 'timeout', 'connect', a status class such as '5xx' "
            "or a code such as '429'"
        ) from None


def _header_name(value: str) -> str:
    if not _HEADER_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid HTTP header name")
    if value.lower() in RESERVED_HEADERS:
        raise ValueError(f"header {value!r} is set by the coordinator or the HTTP client and cannot be given")
    return value


def _header_value(value: Any) -> Any:
    if value is None:
        raise ValueError("a header value cannot be null: leave the header out instead")
    if isinstance(value, str):
        if len(value) > MAX_HEADER_VALUE:
            raise ValueError(f"a header value may be at most {MAX_HEADER_VALUE} characters long")
        try:
            literal = parse_template(value).literal_text
        except TemplateSyntaxError:
            literal = value  # the template problem itself is reported by the consistency checks
        if _BAD_HEADER_CHAR.search(literal):
            raise ValueError("a header value must not contain line breaks or control characters")
    return value


def _distinct_header_names(headers: dict[str, Any]) -> dict[str, Any]:
    seen: set[str] = set()
    for name in headers:
        if name.lower() in seen:
            raise ValueError(f"header {name!r} is given twice (header names ignore case)")
        seen.add(name.lower())
    return headers


def _input_schema(schema: dict[str, Any]) -> dict[str, Any]:
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        where = "/".join(str(p) for p in exc.path)
        message = f"not a valid JSON Schema (2020-12): {exc.message}" + (f" at {where}" if where else "")
        raise ValueError(message) from None
    _check_refs(schema)
    return schema


def _check_refs(node: Any) -> None:
    """Refuse `$ref`s outside the schema: resolving them would fetch URLs at execution start."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("$ref", "$dynamicRef") and isinstance(value, str) and not value.startswith("#"):
                raise ValueError(f"{key} {value!r} points outside the schema: only local references ('#...') work")
            _check_refs(value)
    elif isinstance(node, list):
        for item in node:
            _check_refs(item)


SagaName = Annotated[str, AfterValidator(_saga_name)]
StepName = Annotated[str, AfterValidator(_step_name)]
Duration = Annotated[int, BeforeValidator(_duration), WithJsonSchema(_DURATION_SCHEMA)]
PositiveDuration = Annotated[int, BeforeValidator(_positive_duration), WithJsonSchema(_DURATION_SCHEMA)]
Timeout = Annotated[int, BeforeValidator(_timeout), WithJsonSchema(_DURATION_SCHEMA)]
Method = Annotated[
    str,
    BeforeValidator(_method),
    WithJsonSchema({"enum": [*METHODS, *(m.lower() for m in METHODS)]}),
]
Url = Annotated[
    str,
    AfterValidator(_url),
    WithJsonSchema({"type": "string", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://", "maxLength": MAX_URL_LENGTH}),
]
StatusText = Annotated[str, BeforeValidator(_status), WithJsonSchema(_STATUS_SCHEMA)]
RetryOnText = Annotated[str, BeforeValidator(_retry_on), WithJsonSchema(_RETRY_ON_SCHEMA)]
HeaderName = Annotated[str, AfterValidator(_header_name)]
HeaderValue = Annotated[Any, AfterValidator(_header_value)]
Headers = Annotated[
    dict[HeaderName, HeaderValue],
    AfterValidator(_distinct_header_names),
    Field(max_length=MAX_HEADERS),
    WithJsonSchema(
        {
            "type": "object",
            "maxProperties": MAX_HEADERS,
            "propertyNames": {"pattern": "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"},
            "additionalProperties": {"not": {"type": "null"}},
            "description": "header name -> value; string values may hold {{ }} templates",
        }
    ),
]


class _Document(BaseModel):
    # strict: a YAML `"3"` is not silently an int, nor `yes` a number; forbid: a typo such as
    # `retries:` is an error, not an ignored key.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class RetryDocument(_Document):
    """Retry policy fields; unset fields come from `defaults` and then the built-in values."""

    max_attempts: Annotated[int, Field(ge=1, le=100)] | None = None
    initial_interval: Duration | None = None
    multiplier: Annotated[float, Field(ge=1, le=100, allow_inf_nan=False)] | None = None
    max_interval: Duration | None = None
    jitter: Literal["none", "full", "equal"] | None = None


MAX_ASYNC_TIMEOUT_MS = 30 * 24 * 3_600_000
"""The longest an asynchronous step may wait for its callback (a transfer that settles in days)."""


def _async_timeout(value: Any) -> int:
    ms = parse_duration_ms(value)
    if not 0 < ms <= MAX_ASYNC_TIMEOUT_MS:
        raise ValueError("an async timeout must be more than 0 and at most 30d")
    return ms


AsyncTimeout = Annotated[int, BeforeValidator(_async_timeout), WithJsonSchema(_DURATION_SCHEMA)]


class AsyncDocument(_Document):
    """The call may answer `202` and report its outcome later on its callback URL (SPEC section 7.3)."""

    timeout: AsyncTimeout
    heartbeat: PositiveDuration | None = None

    @field_validator("heartbeat")
    @classmethod
    def _heartbeat_below_timeout(cls, value: int | None, info: ValidationInfo) -> int | None:
        timeout = info.data.get("timeout")
        if value is not None and timeout is not None and value >= timeout:
            raise ValueError("the heartbeat interval must be shorter than the async timeout")
        return value


class CallDocument(_Document):
    """One HTTP call, forward (`action`) or undoing (`compensation`)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)

    method: Method
    url: Url
    headers: Headers = Field(default_factory=dict)
    body: Any = None
    timeout: Timeout | None = None
    success: Annotated[list[StatusText], Field(min_length=1)] | None = None
    retry_on: list[RetryOnText] | None = None
    async_: Annotated[
        AsyncDocument | None,
        Field(
            alias="async",
            description="answer 202 and call back later: {timeout, heartbeat?} (SPEC 7.3)",
        ),
    ] = None


class StepDocument(_Document):
    """One step of the saga."""

    name: StepName
    action: CallDocument
    compensation: CallDocument | None = None
    retry: RetryDocument | None = None
    compensation_retry: RetryDocument | None = None
    deadline: PositiveDuration | None = None
    pivot: Annotated[
        bool,
        Field(description="the point of no return: once it succeeded the saga only goes forward (SPEC 7.2)"),
    ] = False


class ParallelDocument(_Document):
    """A parallel group: its members start together (SPEC section 7.1)."""

    name: StepName
    steps: Annotated[list[StepDocument], Field(min_length=1, max_length=MAX_GROUP_MEMBERS)]


class GroupDocument(_Document):
    """An entry of `steps` that is a parallel group rather than one step."""

    parallel: ParallelDocument


def _entry_kind(value: Any) -> str:
    is_group = isinstance(value, dict) and "parallel" in value and "name" not in value
    return GROUP_TAG if is_group else STEP_TAG


StepEntry = Annotated[
    Annotated[StepDocument, Tag(STEP_TAG)] | Annotated[GroupDocument, Tag(GROUP_TAG)],
    Discriminator(_entry_kind),
]
"""One entry of `steps`: a step, or a `parallel:` group of steps."""


class DefaultsDocument(_Document):
    """Values merged into every step; the step's own values win."""

    timeout: Timeout | None = None
    retry: RetryDocument | None = None
    compensation_retry: RetryDocument | None = None
    headers: Headers = Field(default_factory=dict)


class SagaDocument(_Document):
    """A saga definition as registered."""

    name: SagaName
    version: Annotated[int, Field(ge=1, le=MAX_VERSION)] | None = None
    description: Annotated[str, Field(max_length=4000)] | None = None
    input_schema: Annotated[dict[str, Any], AfterValidator(_input_schema)] | None = None
    deadline: PositiveDuration | None = None
    defaults: DefaultsDocument | None = None
    steps: Annotated[list[StepEntry], Field(min_length=1, max_length=MAX_STEPS)]
    key: (
        Annotated[
            str,
            Field(
                max_length=1000,
                description="the business key of each execution: a template over input, such as "
                '"{{ input.order_id }}"; rendered at start (at most 200 characters), searchable with ?key=',
            ),
        ]
        | None
    ) = None
    alert_after: Annotated[
        PositiveDuration | None,
        Field(
            description="an unfinished execution with no new history for this long needs attention "
            "(default: SAGA_ALERT_AFTER, 15m)"
        ),
    ] = None
    output: Annotated[
        Any,
        Field(
            description="the execution's output: a value whose strings may be {{ }} templates over steps and "
            'execution, such as "{{ steps.create.response.body.account }}"; without it, the last step\'s '
            "response body"
        ),
    ] = None


def definition_json_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of the definition format, for editors and `sagas/`."""
    schema = SagaDocument.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Saga definition",
        **{k: v for k, v in schema.items() if k != "title"},
    }

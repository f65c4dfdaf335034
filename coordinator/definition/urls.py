"""Participant URLs: split into a fixed origin and a templated path, refusing what is unsafe."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from coordinator.definition.expressions import TemplateSyntaxError, contains_template, parse_template

MAX_URL_LENGTH = 2048
TEMPLATED_ORIGIN = "the scheme, host and port of a URL cannot be templated"

_SCHEME = re.compile(r"(https?)://", re.IGNORECASE)
# Registered names as DNS and container runtimes use them (underscores included); ASCII only, so
# a look-alike Unicode host cannot pass an allow-list written in ASCII.
_HOST = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]*)(?:\.[A-Za-z0-9_-]+)*\.?")
_UNSAFE_CHAR = re.compile(r"[\s\x00-\x1f\x7f]")
# WHATWG URL rules: a host whose last label is a number is an IPv4 address. Resolvers accept
# `127.1`, `0x7f.1`, `2130706433` and `0177.0.0.1` for 127.0.0.1; an allowlist written as a.b.c.d
# would not recognise them, so only the canonical dotted quad is accepted (the executor's target
# policy applies the same rule at call time).
_NUMERIC_LABEL = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)


def split_url(url: str) -> tuple[str, str]:
    """Split `url` into (origin, path_template): `http://h:8001` and `/orders/{{ input.id }}?x=1`.

    The origin is lower-cased; the path keeps its templates for rendering at call time.

    Raises:
        ValueError: the URL is too long, not absolute http(s), templated before its path, carries
            credentials, or has an invalid host or port.
    """
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"a URL may be at most {MAX_URL_LENGTH} characters long (this one has {len(url)})")
    scheme = _SCHEME.match(url)
    if scheme is None:
        if contains_template("/".join(url.split("/", 3)[:3])):
            raise ValueError(TEMPLATED_ORIGIN)
        raise ValueError(f"{_shorten(url)!r} is not an absolute http:// or https:// URL")
    authority_end = _authority_end(url, scheme.end())
    authority = url[scheme.end() : authority_end]
    if contains_template(url[:authority_end]):
        raise ValueError(TEMPLATED_ORIGIN)
    _check_literal_characters(url)
    _check_authority(authority)
    return f"{scheme.group(1).lower()}://{authority.lower()}", url[authority_end:]


def _authority_end(url: str, start: int) -> int:
    ends = [i for i in (url.find(c, start) for c in "/?#") if i != -1]
    return min(ends) if ends else len(url)


def _check_literal_characters(url: str) -> None:
    try:
        literal = parse_template(url).literal_text
    except TemplateSyntaxError:
        # Reported with the other template problems; the literal check needs the template spans.
        return
    if _UNSAFE_CHAR.search(literal):
        raise ValueError("a URL must not contain spaces or control characters (percent-encode them)")


def _check_authority(authority: str) -> None:
    if not authority:
        raise ValueError("the URL has no host")
    if "@" in authority:
        raise ValueError("credentials in a URL are not allowed: send them in a header, e.g. from secrets")
    try:
        parts = urlsplit(f"http://{authority}")
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise ValueError(f"invalid host or port in {authority!r}: {exc}") from None
    if authority.endswith(":") or port == 0:
        raise ValueError(f"invalid port in {authority!r}")
    if not host:
        raise ValueError("the URL has no host")
    if authority.startswith("["):
        if "%" in host:
            raise ValueError(f"an IPv6 zone id is not allowed in {authority!r}")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"invalid IPv6 address {host!r}") from None
    elif _is_ambiguous_ipv4(host):
        raise ValueError(f"{host!r} is an ambiguous spelling of an IPv4 address: write it as a.b.c.d")
    elif not _HOST.fullmatch(host):
        raise ValueError(
            f"invalid host {host!r}: use ASCII letters, digits, '-', '_' and '.' "
            "(write international names in their xn-- form)"
        )


def _is_ambiguous_ipv4(host: str) -> bool:
    labels = host.split(".")
    last = labels[-1] if labels[-1] or len(labels) == 1 else labels[-2]
    if not _NUMERIC_LABEL.match(last):
        return False
    try:
        return str(ipaddress.IPv4Address(host)) != host
    except ValueError:
        return True


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."

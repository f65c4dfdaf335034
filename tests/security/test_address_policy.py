"""The target policy on its own: address classification, allowlist entries, both checks."""

from __future__ import annotations

import ipaddress

import pytest

from coordinator.executor.addresses import Reach, is_ambiguous_ipv4, reach
from coordinator.executor.policy import TargetPolicy
from coordinator.settings import Settings, SettingsError

# Every spelling of a metadata endpoint that reaches it, as measured on CPython 3.11 (see
# reliability-plan C.1): the IPv6 wrappings are not link-local or private to `ipaddress`.
METADATA_FORMS = [
    "169.254.169.254",
    "::ffff:169.254.169.254",
    "::ffff:a9fe:a9fe",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b:1::a9fe:a9fe",
    "2002:a9fe:a9fe::1",
    "::169.254.169.254",
    "::ffff:0:a9fe:a9fe",
    "fd00:ec2::254",
    "169.254.170.2",
    "100.100.100.200",
    "fe80::1",
    "169.254.1.1",
    "0.0.0.0",
    "0.1.2.3",
    "::",
    "224.0.0.1",
    "255.255.255.255",
    "240.0.0.1",
]


@pytest.mark.parametrize("address", METADATA_FORMS)
def test_metadata_link_local_and_unspecified_are_refused_in_every_wrapping(address: str) -> None:
    assert reach(ipaddress.ip_address(address)) is Reach.REFUSED


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "::1",
        "::ffff:127.0.0.1",
        "64:ff9b::7f00:1",
        "10.0.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "100.64.0.1",
        "198.18.0.1",
        "fc00::1",
        "fd12:3456::1",
        "192.0.2.1",
    ],
)
def test_inside_the_network_is_private(address: str) -> None:
    assert reach(ipaddress.ip_address(address)) is Reach.PRIVATE


@pytest.mark.parametrize("address", ["8.8.8.8", "2001:4860:4860::8888", "64:ff9b::808:808", "::ffff:1.1.1.1"])
def test_public(address: str) -> None:
    assert reach(ipaddress.ip_address(address)) is Reach.PUBLIC


@pytest.mark.parametrize(
    "host",
    [
        "127.1",
        "0x7f.1",
        "0x7f000001",
        "2130706433",
        "017700000001",
        "0177.0.0.1",
        "127.0.0.1.",
        "127.000.0.1",
        "1.2.3.4.5",
        "0",
    ],
)
def test_odd_ipv4_spellings_are_ambiguous(host: str) -> None:
    assert is_ambiguous_ipv4(host)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "api.v2", "example.com", "a1.b2", "x.0a"])
def test_names_and_canonical_addresses_are_not(host: str) -> None:
    assert not is_ambiguous_ipv4(host)


def test_unset_allowlist_allows_anything_but_the_always_refused() -> None:
    open_ = TargetPolicy()
    assert open_.check("http://inventory:8001/x") is None
    assert open_.check("http://127.0.0.1:5/") is None
    assert open_.check("https://[::1]/") is None
    for address in METADATA_FORMS:
        host = f"[{address}]" if ":" in address else address
        assert open_.check(f"http://{host}/") is not None, address
    assert "metadata" in (open_.check("http://metadata.google.internal/") or "")
    assert "ambiguous" in (open_.check("http://127.1/") or "")
    assert open_.check("file:///etc/passwd") is not None
    assert open_.check("http://u:p@example.com/") is not None


def test_metadata_passes_only_when_named_exactly() -> None:
    assert TargetPolicy(("169.254.169.254",)).check("http://169.254.169.254/latest") is None
    assert TargetPolicy(("169.254.0.0/16",)).check("http://169.254.169.254/") is not None  # a network is not a name
    assert TargetPolicy(("*",)).check("http://169.254.169.254/") is not None
    assert TargetPolicy(("metadata.google.internal",)).check("http://metadata.google.internal/") is None
    named = TargetPolicy(("metadata.google.internal",))
    assert named.check_address("metadata.google.internal", 80, ipaddress.ip_address("169.254.169.254")) is None
    # another name resolving to the metadata address is refused, however exactly it is named
    assert (
        TargetPolicy(("evil.example",)).check_address("evil.example", 80, ipaddress.ip_address("169.254.169.254"))
        is not None
    )


def test_allowlist_names_ports_and_networks() -> None:
    policy = TargetPolicy(("inventory:8001", "*.pay.example", "10.1.0.0/16", "[fd00::5]:443", "127.0.0.1:9000"))
    assert policy.check("http://inventory:8001/r") is None
    assert policy.check("http://inventory:8002/r") is not None
    assert policy.check("https://api.pay.example/") is None
    assert policy.check("https://pay.example.evil/") is not None
    assert policy.check("http://10.1.2.3:1234/") is None
    assert policy.check("http://10.2.0.1/") is not None
    assert policy.check("https://[fd00::5]/") is None
    assert policy.check("http://[fd00::5]/") is not None  # port 80, the entry says 443
    assert policy.check("http://127.0.0.1:9000/") is None
    assert policy.check("http://127.0.0.1:9001/") is not None
    assert policy.check("http://localhost:9000/") is not None


def test_resolved_addresses_an_exact_name_or_a_network_may_reach() -> None:
    policy = TargetPolicy(("inventory", "*.svc.example", "10.9.0.0/16"))
    private, public = ipaddress.ip_address("172.18.0.5"), ipaddress.ip_address("93.184.216.34")
    assert policy.check_address("inventory", 80, private) is None  # named exactly: the operator's DNS
    assert policy.check_address("a.svc.example", 80, public) is None
    refusal = policy.check_address("a.svc.example", 80, private)
    assert refusal is not None and "wildcard" in refusal  # a wildcard never admits the inside
    assert policy.check_address("a.svc.example", 80, ipaddress.ip_address("10.9.1.1")) is None
    assert policy.check_address("a.svc.example", 80, ipaddress.ip_address("::ffff:172.18.0.5")) is not None
    assert policy.check_address("inventory", 80, ipaddress.ip_address("64:ff9b::a9fe:a9fe")) is not None


@pytest.mark.parametrize("entry", ["127.1", "0x7f.1:80", "a b", "host:99999", "10.0.0.1/8", "[zz::1]", "ho$t", "h:x"])
def test_malformed_allowlist_entries_stop_the_start(entry: str) -> None:
    with pytest.raises(SettingsError, match="SAGA_ALLOWED_TARGETS"):
        Settings.from_env({"SAGA_ALLOWED_TARGETS": entry})

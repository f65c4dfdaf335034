"""The bounded Content-Encoding decoder: never more out than the room it is given."""

from __future__ import annotations

import gzip
import zlib

import pytest

from coordinator.executor.decoding import BoundedDecoder, CorruptBody

BODY = b'{"id": "r-1", "items": [' + b'"x", ' * 5000 + b'"y"]}'


def _drain(decoder: BoundedDecoder, data: bytes, room: int) -> bytes:
    out = decoder.decode(data, room)
    while decoder.pending:
        out += decoder.decode(b"", room)
    return out + decoder.flush(room)


@pytest.mark.parametrize(
    ("encoding", "encoded"),
    [
        ("gzip", gzip.compress(BODY)),
        ("x-gzip", gzip.compress(BODY)),
        ("deflate", zlib.compress(BODY)),
        ("deflate", zlib.compress(BODY)[2:-4]),  # raw deflate, as some servers send "deflate"
        ("identity, gzip", gzip.compress(BODY)),
        ("GZIP", gzip.compress(BODY)),
    ],
)
def test_each_encoding_decodes_in_slices_no_larger_than_the_room(encoding: str, encoded: bytes) -> None:
    decoder = BoundedDecoder(encoding)
    assert decoder.decodes
    pieces = []
    for start in range(0, len(encoded), 100):
        piece = decoder.decode(encoded[start : start + 100], 1000)
        assert len(piece) <= 1000
        pieces.append(piece)
        while decoder.pending:
            piece = decoder.decode(b"", 1000)
            assert 0 < len(piece) <= 1000
            pieces.append(piece)
    assert b"".join(pieces) + decoder.flush(1000) == BODY


def test_a_bomb_gives_only_the_room_and_keeps_the_rest_pending() -> None:
    bomb = gzip.compress(bytes(50 * 1024 * 1024), compresslevel=9)  # ~50 KB on the wire
    decoder = BoundedDecoder("gzip")
    out = decoder.decode(bomb, 4097)
    assert len(out) == 4097 and decoder.pending


@pytest.mark.parametrize("encoding", [None, "", "identity", "br", "zstd", "gzip, gzip", "compress"])
def test_what_is_not_decoded_here_passes_through(encoding: str | None) -> None:
    decoder = BoundedDecoder(encoding)
    assert not decoder.decodes and not decoder.pending
    assert decoder.decode(b"as sent", 3) == b"as sent" and decoder.flush(3) == b""


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_corrupt_body_says_so(encoding: str) -> None:
    with pytest.raises(CorruptBody):
        _drain(BoundedDecoder(encoding), b"\x1f\x8b\x08\x00 not compressed at all", 1000)

"""A response's `Content-Encoding`, decoded as the bytes come and never past a bound.

httpx's own decoders (`Response.aiter_bytes`) inflate each chunk whole: one 64 KiB chunk of a gzip
bomb is 64 MiB of zeros in memory and a long stall of the event loop, whatever limit the reader
applies afterwards. Here every inflate call is given the room left under the limit
(`zlib`'s `max_length`), so a body is never decoded further than the part that is kept (plus one
byte, to know there was more).

Decoded: `gzip` / `x-gzip` and `deflate` (zlib-wrapped, or raw as some servers send it), alone;
`identity` is nothing. Anything else (`br`, `zstd`, a list of several) is kept as sent, as httpx
does with an encoding it has no decoder for.
"""

from __future__ import annotations

import zlib

_GZIP_WBITS = 16 + zlib.MAX_WBITS
_ZLIB_WBITS = zlib.MAX_WBITS
_RAW_DEFLATE_WBITS = -zlib.MAX_WBITS


class CorruptBody(Exception):
    """The body does not decode with its `Content-Encoding`."""


class BoundedDecoder:
    """Decodes one response body; `decode(data, room)` returns at most `room` bytes."""

    def __init__(self, content_encoding: str | None) -> None:
        names = [n.strip().lower() for n in (content_encoding or "").split(",") if n.strip()]
        names = [n for n in names if n != "identity"]
        self._wbits: int | None = None
        if names == ["gzip"] or names == ["x-gzip"]:
            self._wbits = _GZIP_WBITS
        elif names == ["deflate"]:
            self._wbits = _ZLIB_WBITS
        self._inflater = zlib.decompressobj(self._wbits) if self._wbits is not None else None
        self._started = False
        self._tail = b""

    @property
    def decodes(self) -> bool:
        """Whether the body is decoded here (else the bytes are passed on as they are)."""
        return self._inflater is not None

    @property
    def pending(self) -> bool:
        """Input is left over from the last `decode` (it stopped at `room`): `decode(b"", room)` goes on."""
        return bool(self._tail)

    def decode(self, data: bytes, room: int) -> bytes:
        """The decoded bytes of what is pending plus `data`, at most `room` of them (`room` > 0).

        Fewer than `room` means all input was used; at `room`, the rest is kept as `pending`.
        """
        if self._inflater is None:
            return data
        data = self._tail + data if self._tail else data
        try:
            out = self._inflater.decompress(data, room)
        except zlib.error as error:
            if self._started or self._wbits != _ZLIB_WBITS:
                raise CorruptBody(str(error)) from error
            # `deflate` without its zlib header, as some servers send it: raw deflate.
            self._wbits = _RAW_DEFLATE_WBITS
            self._inflater = zlib.decompressobj(self._wbits)
            try:
                out = self._inflater.decompress(data, room)
            except zlib.error as again:
                raise CorruptBody(str(again)) from again
        self._started = True
        self._tail = self._inflater.unconsumed_tail
        return out

    def flush(self, room: int) -> bytes:
        """What the decoder still holds at the end of the body, at most `room` bytes."""
        if self._inflater is None:
            return b""
        try:
            return self._inflater.flush(room)
        except zlib.error as error:
            raise CorruptBody(str(error)) from error

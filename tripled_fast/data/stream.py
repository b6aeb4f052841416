"""Prefetching image decoding: decode the next images while the caller computes on this one.

:func:`prefetch_images` yields ``(key, image)`` in the order of its input, like a serial
``for key, path in items: yield key, decode_image(path)``, but decodes ahead in worker threads
(Pillow releases the GIL while it inflates PNG / decodes JPEG data, so decoding overlaps the
caller's statistics and backbone work). Memory is bounded: at most ``max_in_flight`` decoded
(or decoding) images exist at any time, counting the one the caller holds.

With ``decoder="dali"`` (or ``"auto"`` when ``nvidia.dali`` imports) the unit of work is a
chunk of ``max(1, max_in_flight // 2)`` files decoded by
:func:`~tripled_fast.data.decode.decode_batch` (one DALI pipeline per chunk, Pillow for files
DALI cannot take); one chunk is decoded while the caller consumes the previous one.

Errors: a file that fails to decode raises :class:`~tripled_fast.errors.DataError` naming the
file when the caller reaches it (images before it are yielded first); pending work is
cancelled when the iterator is closed or raises.
"""
from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Hashable, TypeVar

import numpy as np

from tripled_fast.data.decode import decode_batch, decode_image, resolve_decoder
from tripled_fast.errors import DataError

K = TypeVar("K", bound=Hashable)
PathLike = str | os.PathLike


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _decode_one(decode_fn: Callable[[str], np.ndarray], path: str) -> np.ndarray:
    try:
        return decode_fn(path)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoder failure becomes one line naming the file
        raise DataError(f"{path}: cannot decode image ({_first_line(exc)})") from exc


def _decode_chunk(paths: list[str], decoder: str, color: str) -> list[np.ndarray]:
    try:
        return decode_batch(paths, decoder=decoder, color=color)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"{paths[0]} (chunk of {len(paths)}): cannot decode images ({_first_line(exc)})") from exc


def prefetch_images(
    items: Iterable[tuple[K, PathLike]],
    *,
    color: str = "auto",
    decoder: str = "pil",
    workers: int = 2,
    max_in_flight: int = 4,
    decode_fn: Callable[[str], np.ndarray] | None = None,
    decode: bool = True,
) -> Iterator[tuple[K, np.ndarray | None]]:
    """Decode ``items`` ahead of the caller and yield ``(key, image)`` in input order.

    Args:
        items: ``(key, path)`` pairs; consumed lazily (a generator is fine).
        color: ``auto | gray | rgb`` (see :func:`~tripled_fast.data.decode.decode_image`).
        decoder: ``pil``, ``dali`` or ``auto`` (:func:`~tripled_fast.data.decode.resolve_decoder`).
        workers: decoding threads for the Pillow path (>= 1).
        max_in_flight: most decoded or decoding images alive at once, including the one last
            yielded (>= 1; 1 means no read-ahead).
        decode_fn: replaces the Pillow decoder (``path -> uint8 H x W x C``); for tests and
            custom formats. Ignored by the DALI path.
        decode: False yields ``(key, None)`` for every item without opening any file (the
            pipeline's "features on the LQ side" case, which decodes pairs itself).

    Yields:
        ``(key, uint8 H x W x C)`` in the order of ``items``.

    Raises:
        ValueError: bad ``workers`` / ``max_in_flight``.
        DataError: a file could not be decoded (message names the file).
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"prefetch_images: workers expected an integer >= 1, got {workers!r}")
    if isinstance(max_in_flight, bool) or not isinstance(max_in_flight, int) or max_in_flight < 1:
        raise ValueError(f"prefetch_images: max_in_flight expected an integer >= 1, got {max_in_flight!r}")
    name = resolve_decoder(decoder)
    if not decode:
        return ((key, None) for key, _ in items)
    if name == "dali" and decode_fn is None:
        return _prefetch_chunks(items, color, name, max(1, max_in_flight // 2))
    fn = decode_fn if decode_fn is not None else (lambda p: decode_image(p, color))
    return _prefetch_single(items, fn, workers, max_in_flight)


def _prefetch_single(items: Iterable[tuple[K, PathLike]], fn: Callable[[str], np.ndarray],
                     workers: int, max_in_flight: int) -> Iterator[tuple[K, np.ndarray]]:
    source = iter(items)
    pending: deque[tuple[K, Future]] = deque()
    pool = ThreadPoolExecutor(max_workers=min(workers, max_in_flight), thread_name_prefix="tf-decode")

    def fill(limit: int) -> None:
        while len(pending) < limit:
            try:
                key, path = next(source)
            except StopIteration:
                return
            pending.append((key, pool.submit(_decode_one, fn, os.fspath(path))))

    try:
        fill(max_in_flight)
        while pending:
            key, fut = pending.popleft()
            img = fut.result()
            del fut
            # the caller is about to hold `img`: keep max_in_flight - 1 others in flight
            fill(max_in_flight - 1)
            yield key, img
            del img
            fill(max_in_flight)
    finally:
        for _, fut in pending:
            fut.cancel()
        pending.clear()
        pool.shutdown(wait=True, cancel_futures=True)


def _prefetch_chunks(items: Iterable[tuple[K, PathLike]], color: str, decoder: str,
                     chunk: int) -> Iterator[tuple[K, np.ndarray]]:
    source = iter(items)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tf-dali")

    def submit() -> tuple[list[K], Future] | None:
        part: list[tuple[K, PathLike]] = []
        for key, path in source:
            part.append((key, path))
            if len(part) == chunk:
                break
        if not part:
            return None
        return [k for k, _ in part], pool.submit(_decode_chunk, [os.fspath(p) for _, p in part], decoder, color)

    try:
        nxt = submit()
        while nxt is not None:
            keys, fut = nxt
            images = fut.result()
            del fut
            nxt = submit()  # decode the next chunk while this one is consumed
            for i, key in enumerate(keys):
                img, images[i] = images[i], None  # drop our reference once yielded
                yield key, img
                del img
            del images
    finally:
        if nxt is not None:
            nxt[1].cancel()
        pool.shutdown(wait=True, cancel_futures=True)

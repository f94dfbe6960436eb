"""kvs-rs for Python: Amazon Kinesis Video Streams from Python, on the kvs-rs Rust libraries.

- ``Producer``: encoded H.264 frames into a stream (PutMedia) with buffering, reconnects and
  acknowledgements; ``put_frame`` releases the GIL while Rust works.
- ``get_media``, ``list_fragments``, ``clip``, ``hls_url``, ``dash_url``, ``images``: reading
  media back.
- ``LocalServer``: kvs-local in this process, for tests (also the ``kvs_local`` pytest fixture)
  and notebooks; boto3 works against it.
- ``Config``: where requests go (the AWS chain, an endpoint, static keys, a CA bundle).

Errors are ``KvsError`` subclasses named after the AWS error codes.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, Iterable, Optional, Tuple, Union

from . import _native
from ._native import (
    CertificateError,
    ClientLimitExceededException,
    Config,
    ConfigError,
    EndpointError,
    Frame,
    FrameError,
    InvalidArgumentException,
    InvalidCodecPrivateDataException,
    KvsError,
    MediaReader,
    NoDataRetentionException,
    NotAuthorizedException,
    ResourceInUseException,
    ResourceNotFoundException,
    ServerError,
    clip,
    get_media,
    images,
    list_fragments,
    read_mkv,
)

__version__ = _native.__version__

Bytes = Union[bytes, bytearray, memoryview, Any]


def _as_bytes(data: Bytes) -> bytes:
    """bytes of ``data``: bytes, bytearray, memoryview or a NumPy array of encoded data."""
    if isinstance(data, bytes):
        return data
    if hasattr(data, "tobytes"):
        return data.tobytes()
    return bytes(memoryview(data))


def hls_url(
    stream: str,
    config: Config,
    mode: str = "LIVE",
    start: Optional[float] = None,
    end: Optional[float] = None,
    expires: Optional[float] = None,
) -> str:
    """GetHLSStreamingSessionURL: a URL players open (``mode`` LIVE, LIVE_REPLAY or ON_DEMAND;
    ``start``/``end`` in epoch seconds, producer time)."""
    return _native.session_url(stream, config, "HLS", mode, (start, end), expires)


def dash_url(
    stream: str,
    config: Config,
    mode: str = "LIVE",
    start: Optional[float] = None,
    end: Optional[float] = None,
    expires: Optional[float] = None,
) -> str:
    """GetDASHStreamingSessionURL, as ``hls_url``."""
    return _native.session_url(stream, config, "DASH", mode, (start, end), expires)


class LocalServer(_native.LocalServer):
    """kvs-local in this process on a free loopback port, with its own data directory.

    Use it as a context manager::

        with kvs_rs.LocalServer() as server:
            kv = server.boto3_session().client("kinesisvideo", endpoint_url=server.endpoint_url)
    """

    def boto3_session(self):
        """A boto3 Session with this server's credentials and region."""
        import boto3

        return boto3.Session(
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            region_name=self.region,
        )

    def client(self, service: str, **kwargs):
        """A boto3 client for ``service`` (kinesisvideo, kinesis, rekognition, ...) pointed at
        this server. For the data-plane services (kinesis-video-media,
        kinesis-video-archived-media) give ``endpoint_url`` from GetDataEndpoint."""
        kwargs.setdefault("endpoint_url", self.endpoint_url)
        return self.boto3_session().client(service, **kwargs)


class H264Encoder(_native.H264Encoder):
    """Raw pictures (OpenCV BGR arrays, or RGB) to H.264 access units with GStreamer's x264.

    ::

        enc = kvs_rs.H264Encoder(640, 480, fps=25)
        ok, picture = cam.read()
        producer.put_frames(enc.encode(picture, time.time()))
    """

    def encode(self, picture: Bytes, timestamp: float):
        """Encodes one picture (height x width x 3 bytes) taken at ``timestamp`` (epoch
        seconds); returns the ``(data, timestamp, key_frame)`` tuples ready now."""
        return super().encode(_as_bytes(picture), timestamp)


class Producer(_native.Producer):
    """Streams encoded H.264 frames into a Kinesis video stream.

    ``put_frame(data, timestamp, key_frame, track=1)`` adds one access unit (Annex-B or AVC
    bytes, or a NumPy array / bytearray / memoryview of them) at ``timestamp`` (epoch
    seconds); it raises ``FrameError`` for a frame the stream cannot take.
    """

    def put_frames(self, frames: Iterable[Tuple[Bytes, float, bool]], track: int = 1) -> int:
        """Adds ``(data, timestamp, key_frame)`` tuples in order; returns how many."""
        n = 0
        for data, timestamp, key_frame in frames:
            self.put_frame(data, timestamp, key_frame, track)
            n += 1
        return n

    async def put_frame_async(
        self, data: Bytes, timestamp: float, key_frame: bool, track: int = 1
    ) -> None:
        """``put_frame`` for asyncio code: runs in the default executor."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(
            None, functools.partial(self.put_frame, data, timestamp, key_frame, track)
        )

    async def finish_async(self, timeout: float = 30.0) -> dict:
        """``finish`` for asyncio code."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(self.finish, timeout))

    def __enter__(self) -> "Producer":
        return self

    def __exit__(self, *exc) -> bool:
        self.finish()
        return False


__all__ = [
    "CertificateError",
    "ClientLimitExceededException",
    "Config",
    "ConfigError",
    "EndpointError",
    "Frame",
    "FrameError",
    "H264Encoder",
    "InvalidArgumentException",
    "InvalidCodecPrivateDataException",
    "KvsError",
    "LocalServer",
    "MediaReader",
    "NoDataRetentionException",
    "NotAuthorizedException",
    "Producer",
    "ResourceInUseException",
    "ResourceNotFoundException",
    "ServerError",
    "clip",
    "dash_url",
    "get_media",
    "hls_url",
    "images",
    "list_fragments",
    "read_mkv",
]

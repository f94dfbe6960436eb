"""Shared test data: real H.264 made by ffmpeg (libx264), split into access units."""

import subprocess
import time

import pytest

START_CODE = b"\x00\x00\x00\x01"


def annexb_units(data: bytes):
    """NAL units of an Annex-B byte stream (3- or 4-byte start codes)."""
    units, i, n = [], 0, len(data)
    starts = []
    while True:
        j = data.find(b"\x00\x00\x01", i)
        if j < 0:
            break
        starts.append(j + 3)
        i = j + 3
    for k, s in enumerate(starts):
        end = starts[k + 1] - 3 if k + 1 < len(starts) else n
        # a 4-byte start code leaves a zero byte at the end of the previous unit
        unit = data[s:end]
        while unit.endswith(b"\x00") and k + 1 < len(starts):
            unit = unit[:-1]
        units.append(unit)
    return units


def to_avc(units) -> bytes:
    return b"".join(len(u).to_bytes(4, "big") + u for u in units)


def access_units(annexb: bytes):
    """(avc_bytes, key_frame) per access unit of an Annex-B stream whose access units start
    with a delimiter (x264's `aud=1`)."""
    frames, current = [], []
    for unit in annexb_units(annexb):
        if unit[0] & 0x1F == 9:  # access unit delimiter: a new frame starts
            if current:
                frames.append(current)
            current = []
        else:
            current.append(unit)
    if current:
        frames.append(current)
    return [(to_avc(units), any(u[0] & 0x1F == 5 for u in units)) for units in frames]


def ffmpeg_h264(*args) -> bytes:
    """What ffmpeg with `args` (input and encoder options) writes as raw H.264 with access
    unit delimiters."""
    return subprocess.run(
        ["ffmpeg", "-v", "error", *args, "-c:v", "libx264", "-bf", "0",
         "-x264-params", "aud=1", "-f", "h264", "-"],
        check=True,
        capture_output=True,
    ).stdout


def h264_access_units(seconds: float, fps: int = 25, size: str = "320x240", gop: int = 25):
    """(avc_bytes, key_frame) per frame of a test pattern, SPS and PPS in the first."""
    return access_units(ffmpeg_h264(
        "-f", "lavfi", "-i", f"testsrc=size={size}:rate={fps}", "-t", str(seconds),
        "-pix_fmt", "yuv420p", "-g", str(gop),
    ))


@pytest.fixture(scope="session")
def h264():
    """4 s of 320x240 H.264 at 25 fps, a key frame every second."""
    return h264_access_units(4)


def timestamps(n: int, fps: int = 25, start: float = None):
    """Frame times in epoch seconds, on whole milliseconds (KVS keeps milliseconds)."""
    start_ms = int((start if start is not None else time.time() - 60) * 1000)
    return [(start_ms + i * 1000 // fps) / 1000 for i in range(n)]

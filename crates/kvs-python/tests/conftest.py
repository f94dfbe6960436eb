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


def h264_access_units(seconds: float, fps: int = 25, size: str = "320x240", gop: int = 25):
    """(avc_bytes, key_frame) per frame of a test pattern, SPS and PPS in the first."""
    out = subprocess.run(
        [
            "ffmpeg", "-v", "error", "-f", "lavfi",
            "-i", f"testsrc=size={size}:rate={fps}", "-t", str(seconds),
            "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", str(gop), "-bf", "0",
            "-x264-params", "aud=1", "-f", "h264", "-",
        ],
        check=True,
        capture_output=True,
    ).stdout
    frames, current = [], []
    for unit in annexb_units(out):
        nal_type = unit[0] & 0x1F
        if nal_type == 9:  # access unit delimiter: a new frame starts
            if current:
                frames.append(current)
            current = []
            continue
        current.append(unit)
    if current:
        frames.append(current)
    return [(to_avc(units), any(u[0] & 0x1F == 5 for u in units)) for units in frames]


@pytest.fixture(scope="session")
def h264():
    """4 s of 320x240 H.264 at 25 fps, a key frame every second."""
    return h264_access_units(4)


def timestamps(n: int, fps: int = 25, start: float = None):
    """Frame times in epoch seconds, on whole milliseconds (KVS keeps milliseconds)."""
    start_ms = int((start if start is not None else time.time() - 60) * 1000)
    return [(start_ms + i * 1000 // fps) / 1000 for i in range(n)]

"""How fast a Python loop puts frames, against the same loop in Rust, and what a 4 Mbit/s
stream costs the Python process in CPU. Run by `make bench-python` (a release wheel and a
release kvs-local in its own process); figures go to docs/benchmarks.md.

    python producer_bench.py KVS_LOCAL_BINARY
"""

import os
import resource
import subprocess
import sys
import tempfile
import time

import kvs_rs

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from conftest import access_units, ffmpeg_h264  # noqa: E402

FPS = 25


def four_mbit_frames(seconds: int):
    """720p H.264 at about 4 Mbit/s (noise keeps x264 from compressing it away)."""
    return access_units(ffmpeg_h264(
        "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate={FPS},noise=alls=12:allf=t",
        "-t", str(seconds), "-preset", "ultrafast", "-b:v", "4M", "-maxrate", "4M",
        "-bufsize", "4M", "-g", str(FPS),
    ))


def main():
    binary = sys.argv[1]
    data = tempfile.mkdtemp(prefix="kvs-bench-")
    server = subprocess.Popen([binary, "serve", "--addr", "127.0.0.1:0", "--data-dir", data],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = server.stdout.readline().split()[-1]
    config = kvs_rs.Config(endpoint_url=url, access_key_id="AKIDKVSLOCAL",
                           secret_access_key="kvs-local-secret")
    import boto3
    kv = boto3.client("kinesisvideo", endpoint_url=url, region_name="us-east-1",
                      aws_access_key_id="AKIDKVSLOCAL", aws_secret_access_key="kvs-local-secret")
    try:
        frames = four_mbit_frames(40)
        mbit = sum(len(d) for d, _ in frames) * 8 / 40 / 1e6
        print(f"source: {len(frames)} frames, 1280x720, {mbit:.1f} Mbit/s")

        # 1. frames per second into the producer: a Python loop against a Rust loop, same frames
        # 5000 frames (about 100 MB, inside the producer's 128 MiB buffer) a round, so that a
        # round takes long enough to time; the ratio is the median of five paired rounds.
        loop_frames = (frames * 5)[:5000]
        results = {}
        for round_ in range(5):
            for how in ("python", "rust"):
                name = f"{how}-{round_}"
                kv.create_stream(StreamName=name, DataRetentionInHours=1)
                p = kvs_rs.Producer(name, config)
                start = time.time() - 3600
                batch = [(d, start + i / FPS, k) for i, (d, k) in enumerate(loop_frames)]
                if how == "python":
                    began = time.perf_counter()
                    for d, t, k in batch:
                        p.put_frame(d, t, k)
                    took = time.perf_counter() - began
                else:
                    took = p._bench_put_frames([(d, t, k) for d, t, k in batch])
                p.finish(timeout=120)
                results.setdefault(how, []).append(len(batch) / took)
        ratios = sorted(p / r for p, r in zip(results["python"], results["rust"]))
        py = sorted(results["python"])[2]
        rs = sorted(results["rust"])[2]
        print(f"put_frame: Python loop {py:,.0f} frames/s, Rust loop {rs:,.0f} frames/s "
              f"(medians of 5 rounds of {len(loop_frames)} frames); Python/Rust per round "
              f"{', '.join(f'{r:.0%}' for r in ratios)}, median {ratios[2]:.0%}")

        # 2. CPU of the Python process for one real-time 4 Mbit/s stream
        kv.create_stream(StreamName="live", DataRetentionInHours=1)
        p = kvs_rs.Producer("live", config)
        seconds = 20
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        wall0 = time.perf_counter()
        base = time.time()
        for i in range(seconds * FPS):
            d, k = frames[i % len(frames)]
            due = wall0 + i / FPS
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            p.put_frame(d, base + i / FPS, k)
        p.finish(timeout=60)
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        wall = time.perf_counter() - wall0
        cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        print(f"one real-time {mbit:.1f} Mbit/s stream for {seconds} s: {cpu:.2f} CPU-s in "
              f"{wall:.1f} s = {cpu / wall:.1%} of a core (Python process: loop, producer, TLS-free HTTP)")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()

"""Rekognition face search and Kinesis Data Streams through boto3 against LocalServer."""

import json
import os
import pathlib
import time

import pytest

import kvs_rs
from conftest import access_units, ffmpeg_h264, timestamps


def photos() -> pathlib.Path:
    models = os.environ.get("KVS_FACE_MODELS") or os.path.expanduser("~/.local/share/kvs-rs/models")
    path = pathlib.Path(models) / "test-images"
    assert (path / "obama.jpg").exists(), f"{path} has no test photos: run scripts/fetch-models"
    return path


def video_of(photo: pathlib.Path, seconds: int = 3):
    """H.264 access units of a still photo, 30 fps, a key frame a second."""
    return access_units(ffmpeg_h264(
        "-loop", "1", "-i", str(photo), "-t", str(seconds),
        "-vf", "scale=416:800,format=yuv420p", "-r", "30", "-g", "30",
    ))


def test_a_stream_processor_finds_an_indexed_face_and_writes_the_match_to_kinesis(kvs_local):
    rek = kvs_local.client("rekognition")
    kinesis = kvs_local.client("kinesis")
    kv = kvs_local.client("kinesisvideo")

    rek.create_collection(CollectionId="staff")
    indexed = rek.index_faces(
        CollectionId="staff",
        Image={"Bytes": (photos() / "obama.jpg").read_bytes()},
        ExternalImageId="obama",
    )
    assert len(indexed["FaceRecords"]) == 1

    kinesis.create_stream(StreamName="matches", ShardCount=1)
    data_arn = kinesis.describe_stream(StreamName="matches")["StreamDescription"]["StreamARN"]
    video_arn = kv.create_stream(StreamName="lobby", DataRetentionInHours=1)["StreamARN"]
    rek.create_stream_processor(
        Name="lobby-faces",
        Input={"KinesisVideoStream": {"Arn": video_arn}},
        Output={"KinesisDataStream": {"Arn": data_arn}},
        Settings={"FaceSearch": {"CollectionId": "staff", "FaceMatchThreshold": 80}},
        RoleArn="arn:aws:iam::123456789012:role/kvs-local",
    )
    rek.start_stream_processor(Name="lobby-faces")
    assert rek.describe_stream_processor(Name="lobby-faces")["Status"] in ("STARTING", "RUNNING")

    # another photo of the same person, as video from the Python producer
    frames = video_of(photos() / "obama2.jpg")
    producer = kvs_rs.Producer("lobby", kvs_local.config())
    producer.put_frames((d, t, k) for (d, k), t in zip(frames, timestamps(len(frames), fps=30)))
    assert producer.finish(timeout=30)["persisted"] == 3

    shard = kinesis.describe_stream(StreamName="matches")["StreamDescription"]["Shards"][0]
    iterator = kinesis.get_shard_iterator(
        StreamName="matches", ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    matched = []
    deadline = time.time() + 90
    while not matched and time.time() < deadline:
        out = kinesis.get_records(ShardIterator=iterator, Limit=100)
        iterator = out["NextShardIterator"]
        for record in out["Records"]:
            body = json.loads(record["Data"])
            for face in body.get("FaceSearchResponse", []):
                matched += [m["Face"]["ExternalImageId"] for m in face.get("MatchedFaces", [])]
        if not matched:
            time.sleep(0.5)
    assert matched and set(matched) == {"obama"}, matched
    rek.stop_stream_processor(Name="lobby-faces")

"""LocalServer, the fixture, and boto3 against them."""

import urllib.request

import boto3
import botocore.exceptions
import pytest

import kvs_rs


def test_local_server_starts_serves_boto3_and_stops(tmp_path):
    server = kvs_rs.LocalServer(data_dir=str(tmp_path / "data"))
    assert server.running
    assert server.endpoint_url.startswith("http://127.0.0.1:")
    assert server.https_url == server.endpoint_url.replace("http://", "https://")
    assert server.ca_file.endswith("ca.pem")
    kv = server.client("kinesisvideo")
    kv.create_stream(StreamName="cam", DataRetentionInHours=1)
    names = [s["StreamName"] for s in kv.list_streams()["StreamInfoList"]]
    assert names == ["cam"]
    # https with the server's CA, as boto3 users do with verify=
    tls = server.boto3_session().client(
        "kinesisvideo", endpoint_url=server.https_url, verify=server.ca_file
    )
    assert tls.describe_stream(StreamName="cam")["StreamInfo"]["Status"] == "ACTIVE"

    server.stop()
    assert not server.running
    server.stop()  # idempotent
    with pytest.raises(botocore.exceptions.EndpointConnectionError):
        kv.list_streams()


def test_the_fixture_is_a_running_server(kvs_local):
    assert kvs_local.running
    assert kvs_local.config().endpoint_url == kvs_local.endpoint_url


def test_errors_are_typed_after_the_aws_codes(kvs_local):
    config = kvs_local.config()
    with pytest.raises(kvs_rs.ResourceNotFoundException) as missing:
        kvs_rs.list_fragments("no-such-stream", config)
    assert missing.value.code == "ResourceNotFoundException"
    assert isinstance(missing.value, kvs_rs.KvsError)
    assert "no-such-stream" in str(missing.value)
    with pytest.raises(kvs_rs.ConfigError):
        kvs_rs.Config(access_key_id="only-the-key")
    wrong = kvs_rs.Config(
        endpoint_url=kvs_local.endpoint_url,
        access_key_id=kvs_local.access_key_id,
        secret_access_key="not-the-secret",
    )
    with pytest.raises(kvs_rs.KvsError) as refused:
        kvs_rs.list_fragments("cam", wrong)
    assert refused.value.code in ("InvalidSignatureException", "NotAuthorizedException")


def data_endpoint(kv, stream, api):
    return kv.get_data_endpoint(StreamName=stream, APIName=api)["DataEndpoint"]


def test_boto3_gets_clips_and_hls_urls_of_what_the_python_producer_put(kvs_local, h264):
    from conftest import timestamps

    kv = kvs_local.client("kinesisvideo")
    kv.create_stream(StreamName="cam", DataRetentionInHours=24)
    times = timestamps(len(h264))
    producer = kvs_rs.Producer("cam", kvs_local.config())
    for (data, key), t in zip(h264, times):
        producer.put_frame(data, t, key)
    stats = producer.finish(timeout=30)
    assert stats["frames"] == len(h264)
    assert stats["persisted"] == stats["fragments"] == 4

    archived = kvs_local.client(
        "kinesis-video-archived-media", endpoint_url=data_endpoint(kv, "cam", "GET_CLIP")
    )
    clip = archived.get_clip(
        StreamName="cam",
        ClipFragmentSelector={
            "FragmentSelectorType": "PRODUCER_TIMESTAMP",
            "TimestampRange": {"StartTimestamp": times[0] - 1, "EndTimestamp": times[-1] + 1},
        },
    )
    assert clip["ContentType"] == "video/mp4"
    mp4 = clip["Payload"].read()
    assert mp4[4:8] == b"ftyp"

    hls = kvs_local.client(
        "kinesis-video-archived-media",
        endpoint_url=data_endpoint(kv, "cam", "GET_HLS_STREAMING_SESSION_URL"),
    )
    url = hls.get_hls_streaming_session_url(
        StreamName="cam",
        PlaybackMode="ON_DEMAND",
        HLSFragmentSelector={
            "FragmentSelectorType": "PRODUCER_TIMESTAMP",
            "TimestampRange": {"StartTimestamp": times[0] - 1, "EndTimestamp": times[-1] + 1},
        },
    )["HLSStreamingSessionURL"]
    with urllib.request.urlopen(url) as playlist:
        assert playlist.read().startswith(b"#EXTM3U")
    # and kvs_rs's own
    assert kvs_rs.hls_url(
        "cam", kvs_local.config(), mode="ON_DEMAND", start=times[0] - 1, end=times[-1] + 1
    ).startswith(kvs_local.endpoint_url)
    dash = kvs_rs.dash_url(
        "cam", kvs_local.config(), mode="ON_DEMAND", start=times[0] - 1, end=times[-1] + 1
    )
    with urllib.request.urlopen(dash) as manifest:
        assert b"<MPD" in manifest.read()
    stills = kvs_rs.images("cam", kvs_local.config(), times[0], times[-1], every=1.0)
    assert len(stills) == 4, stills
    assert all(jpeg and jpeg[:2] == b"\xff\xd8" for _, jpeg in stills)
    out = kvs_local.data_dir + "/../clip.mp4"
    written = kvs_rs.clip("cam", kvs_local.config(), times[0] - 1, times[-1] + 1, out)
    assert written["bytes"] == len(mp4)

//! What the Kinesis-reading tests share: records as a Rekognition stream processor writes
//! them, put into the data stream they read.

use aws_sdk_kinesis::primitives::Blob;
use kvs_endpoint::KvsConfig;

/// The data stream the tests read.
pub(crate) const STREAM: &str = "kvs-ml";

/// A record as a processor writes it, for frame `n` of fragment `fragment`.
pub(crate) fn record(fragment: u32, n: u32, who: Option<&str>) -> Vec<u8> {
    let matched = who.map_or(String::new(), |who| {
        format!(
            r#"{{"Similarity":97.5,"Face":{{"BoundingBox":{{"Width":0.5,"Height":0.5,"Left":0.2,"Top":0.2}},
               "FaceId":"face-{who}","Confidence":99.9,"ImageId":"img-{who}","ExternalImageId":"{who}"}}}}"#
        )
    });
    format!(
        r#"{{"InputInformation":{{"KinesisVideo":{{"StreamArn":"arn:aws:kinesisvideo:us-east-1:123456789012:stream/cam/1",
           "FragmentNumber":"9134385233318143239268206260774392014619735{fragment:04}",
           "ServerTimestamp":1700000000.5,"ProducerTimestamp":1700000000.25,"FrameOffsetInSeconds":{}}}}},
           "StreamProcessorInformation":{{"Status":"RUNNING"}},
           "FaceSearchResponse":[{{"DetectedFace":{{"BoundingBox":{{"Width":0.1,"Height":0.2,"Left":0.3,"Top":0.4}},
             "Confidence":99.0,"Landmarks":[],"Pose":{{"Pitch":0,"Roll":0,"Yaw":0}},
             "Quality":{{"Brightness":50,"Sharpness":50}}}},"MatchedFaces":[{matched}]}}]}}"#,
        f64::from(n) * 0.2
    )
    .into_bytes()
}

/// Puts `data` into [`STREAM`] under partition key `key`.
pub(crate) async fn put(config: &KvsConfig, key: &str, data: Vec<u8>) {
    aws_sdk_kinesis::Client::new(config.sdk_config())
        .put_record()
        .stream_name(STREAM)
        .partition_key(key)
        .data(Blob::new(data))
        .send()
        .await
        .unwrap();
}

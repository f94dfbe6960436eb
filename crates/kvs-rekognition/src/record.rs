//! The record a Rekognition face-search stream processor writes to its Kinesis data stream, one
//! per analysed frame, as serde types with Rekognition's field names.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Why a record could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The data is not JSON of the record's shape.
    #[error("not a Rekognition stream processor record ({0})")]
    Json(#[from] serde_json::Error),
    /// The record has no `InputInformation.KinesisVideo`: it was not written by a processor
    /// reading a Kinesis video stream.
    #[error("the record has no InputInformation.KinesisVideo")]
    NoKinesisVideo,
}

/// One output record: the frame it describes and the faces found in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OutputRecord {
    /// Where the frame came from.
    pub input_information: InputInformation,
    /// The processor's state when it wrote the record.
    #[serde(default)]
    pub stream_processor_information: StreamProcessorInformation,
    /// One entry per face detected in the frame (empty when there is none).
    #[serde(default)]
    pub face_search_response: Vec<FaceSearchResponse>,
}

/// `InputInformation`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InputInformation {
    /// The video frame.
    pub kinesis_video: Option<KinesisVideo>,
}

/// `InputInformation.KinesisVideo`: the analysed frame's place in the video stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KinesisVideo {
    /// The video stream's ARN.
    pub stream_arn: String,
    /// The fragment holding the frame.
    pub fragment_number: String,
    /// When KVS received the fragment (epoch seconds).
    pub server_timestamp: f64,
    /// The fragment's producer timestamp (epoch seconds).
    pub producer_timestamp: f64,
    /// How far into the fragment the frame is (seconds).
    pub frame_offset_in_seconds: f64,
}

/// `StreamProcessorInformation`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamProcessorInformation {
    /// The processor's status, e.g. `RUNNING`.
    #[serde(default)]
    pub status: String,
}

/// One detected face and the collection faces it matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FaceSearchResponse {
    /// The face found in the frame.
    pub detected_face: DetectedFace,
    /// Collection faces at or above the processor's threshold, best first.
    #[serde(default)]
    pub matched_faces: Vec<MatchedFace>,
}

/// A box as fractions of the frame's width and height.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BoundingBox {
    /// Width.
    #[serde(default)]
    pub width: f32,
    /// Height.
    #[serde(default)]
    pub height: f32,
    /// Left edge.
    #[serde(default)]
    pub left: f32,
    /// Top edge.
    #[serde(default)]
    pub top: f32,
}

/// `DetectedFace`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DetectedFace {
    /// Where the face is in the frame.
    pub bounding_box: BoundingBox,
    /// How sure the detector is that this is a face (0-100).
    #[serde(default)]
    pub confidence: f32,
    /// Eyes, nose, mouth corners and so on.
    #[serde(default)]
    pub landmarks: Vec<Landmark>,
    /// Head pose.
    #[serde(default)]
    pub pose: Option<Pose>,
    /// Image quality of the face.
    #[serde(default)]
    pub quality: Option<Quality>,
}

/// A facial landmark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Landmark {
    /// E.g. `eyeLeft`, `nose`, `mouthRight`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// X as a fraction of the frame's width.
    pub x: f32,
    /// Y as a fraction of the frame's height.
    pub y: f32,
}

/// Head pose in degrees.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Pose {
    /// Pitch.
    #[serde(default)]
    pub pitch: f32,
    /// Roll.
    #[serde(default)]
    pub roll: f32,
    /// Yaw.
    #[serde(default)]
    pub yaw: f32,
}

/// Image quality of a face (0-100).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Quality {
    /// Brightness.
    #[serde(default)]
    pub brightness: f32,
    /// Sharpness.
    #[serde(default)]
    pub sharpness: f32,
}

/// A collection face a detected face matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MatchedFace {
    /// How alike the two faces are (0-100).
    pub similarity: f32,
    /// The indexed face.
    pub face: IndexedFace,
}

/// A face as indexed in the collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IndexedFace {
    /// Where the face was in its source image.
    #[serde(default)]
    pub bounding_box: BoundingBox,
    /// Detection confidence when it was indexed.
    #[serde(default)]
    pub confidence: f32,
    /// The id the face was indexed with (the photo's file name with `kvs faces index`).
    #[serde(default)]
    pub external_image_id: Option<String>,
    /// The face's id in the collection.
    pub face_id: String,
    /// The id of the image it was indexed from.
    #[serde(default)]
    pub image_id: Option<String>,
}

/// One match flattened: who was seen, how alike, and where in the video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FaceMatch {
    /// The matched face's external id (e.g. `danny-1`), when it was indexed with one.
    pub external_image_id: Option<String>,
    /// The matched face's id in the collection.
    pub face_id: String,
    /// How alike (0-100).
    pub similarity: f32,
    /// Where the face is in the frame.
    pub bounding_box: BoundingBox,
    /// The fragment holding the frame.
    pub fragment_number: String,
    /// The fragment's producer timestamp (epoch seconds).
    pub producer_timestamp: f64,
    /// When KVS received the fragment (epoch seconds).
    pub server_timestamp: f64,
    /// How far into the fragment the frame is (seconds).
    #[serde(rename = "FrameOffsetInSeconds")]
    pub frame_offset: f64,
    /// The video stream's ARN.
    pub stream_arn: String,
}

impl KinesisVideo {
    /// The frame's producer time: the fragment's producer timestamp plus the frame offset.
    pub fn frame_time(&self) -> SystemTime {
        epoch(self.producer_timestamp + self.frame_offset_in_seconds)
    }
}

impl FaceMatch {
    /// The frame's producer time: the fragment's producer timestamp plus the frame offset.
    pub fn frame_time(&self) -> SystemTime {
        epoch(self.producer_timestamp + self.frame_offset)
    }

    /// The frame's time on the server clock.
    pub fn server_frame_time(&self) -> SystemTime {
        epoch(self.server_timestamp + self.frame_offset)
    }

    /// The name to show for the match: the external id, else the face id.
    pub fn who(&self) -> &str {
        self.external_image_id.as_deref().unwrap_or(&self.face_id)
    }
}

/// Epoch seconds as an instant, to the millisecond: the record's floats carry no more, and
/// printing their binary noise (`.822000027`) helps nobody.
fn epoch(secs: f64) -> SystemTime {
    if secs.is_finite() && secs > 0.0 {
        UNIX_EPOCH + Duration::from_millis((secs * 1000.0).round() as u64)
    } else {
        UNIX_EPOCH
    }
}

impl OutputRecord {
    /// The analysed frame's place in the video stream.
    pub fn kinesis_video(&self) -> Option<&KinesisVideo> {
        self.input_information.kinesis_video.as_ref()
    }

    /// Every match in the record, flattened, best first within each detected face.
    pub fn matches(&self) -> Vec<FaceMatch> {
        let Some(video) = self.kinesis_video() else {
            return Vec::new();
        };
        self.face_search_response
            .iter()
            .flat_map(|response| {
                response.matched_faces.iter().map(|m| FaceMatch {
                    external_image_id: m.face.external_image_id.clone(),
                    face_id: m.face.face_id.clone(),
                    similarity: m.similarity,
                    bounding_box: response.detected_face.bounding_box,
                    fragment_number: video.fragment_number.clone(),
                    producer_timestamp: video.producer_timestamp,
                    server_timestamp: video.server_timestamp,
                    frame_offset: video.frame_offset_in_seconds,
                    stream_arn: video.stream_arn.clone(),
                })
            })
            .collect()
    }
}

/// Reads one record's data.
pub fn parse_record(data: &[u8]) -> Result<OutputRecord, RecordError> {
    let record: OutputRecord = serde_json::from_slice(data)?;
    if record.input_information.kinesis_video.is_none() {
        return Err(RecordError::NoKinesisVideo);
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A record as Rekognition documents it (shared/README.md and the Rekognition developer
    /// guide's "Reading streaming video analysis results").
    const SAMPLE: &str = r#"{
      "InputInformation": {"KinesisVideo": {
        "StreamArn": "arn:aws:kinesisvideo:us-east-1:123456789012:stream/cam/1700000000000",
        "FragmentNumber": "91343852333181432392682062607743920146197356731",
        "ServerTimestamp": 1510552593.455,
        "ProducerTimestamp": 1510552593.193,
        "FrameOffsetInSeconds": 2.0}},
      "StreamProcessorInformation": {"Status": "RUNNING"},
      "FaceSearchResponse": [{
        "DetectedFace": {
          "BoundingBox": {"Height": 0.075, "Width": 0.05625, "Left": 0.428125, "Top": 0.40833333},
          "Confidence": 99.97052,
          "Landmarks": [{"X": 0.4452765, "Y": 0.4395162, "Type": "eyeLeft"},
                        {"X": 0.46378568, "Y": 0.44170216, "Type": "eyeRight"}],
          "Pose": {"Pitch": 2.9984, "Roll": -1.1934, "Yaw": -12.8045},
          "Quality": {"Brightness": 39.15, "Sharpness": 67.6}},
        "MatchedFaces": [{
          "Similarity": 88.86,
          "Face": {
            "BoundingBox": {"Height": 0.557, "Width": 0.749, "Left": 0.103, "Top": 0.206},
            "FaceId": "ed1b560f-d6af-5158-989a-ff586c931545",
            "Confidence": 99.9,
            "ImageId": "70e09693-2114-57e1-807c-50b6d61fa4dc",
            "ExternalImageId": "danny-1"}}]}]
    }"#;

    #[test]
    fn a_documented_record_parses_with_every_field() {
        let r = parse_record(SAMPLE.as_bytes()).unwrap();
        let v = r.kinesis_video().unwrap();
        assert_eq!(
            v.fragment_number,
            "91343852333181432392682062607743920146197356731"
        );
        assert_eq!(v.frame_offset_in_seconds, 2.0);
        assert_eq!(r.stream_processor_information.status, "RUNNING");
        let face = &r.face_search_response[0];
        assert_eq!(face.detected_face.landmarks[1].kind, "eyeRight");
        assert_eq!(face.detected_face.pose.unwrap().yaw, -12.8045);
        assert_eq!(face.detected_face.quality.unwrap().sharpness, 67.6);
        assert_eq!(
            face.matched_faces[0].face.image_id.as_deref(),
            Some("70e09693-2114-57e1-807c-50b6d61fa4dc")
        );
    }

    #[test]
    fn matches_flatten_with_the_frame_position() {
        let r = parse_record(SAMPLE.as_bytes()).unwrap();
        let m = r.matches();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].who(), "danny-1");
        assert_eq!(m[0].similarity, 88.86);
        assert_eq!(m[0].bounding_box.left, 0.428125);
        let t = m[0].frame_time().duration_since(UNIX_EPOCH).unwrap();
        assert_eq!(t, Duration::from_millis(1_510_552_595_193));
        let json = serde_json::to_value(&m[0]).unwrap();
        assert_eq!(json["ExternalImageId"], "danny-1");
        assert_eq!(json["FrameOffsetInSeconds"], 2.0);
    }

    #[test]
    fn a_frame_without_faces_has_no_matches() {
        let r = parse_record(
            br#"{"InputInformation":{"KinesisVideo":{"StreamArn":"a","FragmentNumber":"1",
               "ServerTimestamp":1.0,"ProducerTimestamp":1.0,"FrameOffsetInSeconds":0.0}},
               "StreamProcessorInformation":{"Status":"RUNNING"},"FaceSearchResponse":[]}"#,
        )
        .unwrap();
        assert!(r.matches().is_empty());
    }

    #[test]
    fn other_data_is_a_typed_error() {
        assert!(matches!(parse_record(b"hello"), Err(RecordError::Json(_))));
        assert!(matches!(
            parse_record(br#"{"InputInformation":{}}"#),
            Err(RecordError::NoKinesisVideo)
        ));
    }

    #[test]
    fn records_round_trip_with_rekognition_names() {
        let r = parse_record(SAMPLE.as_bytes()).unwrap();
        let back = serde_json::to_string(&r).unwrap();
        assert!(back.contains("\"FaceSearchResponse\""));
        assert!(back.contains("\"Type\":\"eyeLeft\""));
        assert_eq!(parse_record(back.as_bytes()).unwrap(), r);
    }
}

//! Request and response shapes of the Rekognition operations kvs-local serves.

use serde::{Deserialize, Serialize};

/// A box as fractions of the image size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct BoundingBox {
    pub(crate) width: f32,
    pub(crate) height: f32,
    pub(crate) left: f32,
    pub(crate) top: f32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Landmark {
    #[serde(rename = "Type")]
    pub(crate) kind: &'static str,
    pub(crate) x: f32,
    pub(crate) y: f32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Pose {
    pub(crate) roll: f32,
    pub(crate) yaw: f32,
    pub(crate) pitch: f32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Quality {
    pub(crate) brightness: f32,
    pub(crate) sharpness: f32,
}

/// A detected face as Rekognition describes it (`FaceDetail`, `DetectedFace`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct FaceDetail {
    pub(crate) bounding_box: BoundingBox,
    pub(crate) confidence: f32,
    pub(crate) landmarks: Vec<Landmark>,
    pub(crate) pose: Pose,
    pub(crate) quality: Quality,
}

/// An indexed face (`Face`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Face {
    pub(crate) face_id: String,
    pub(crate) bounding_box: BoundingBox,
    pub(crate) image_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) external_image_id: Option<String>,
    pub(crate) confidence: f32,
    pub(crate) index_faces_model_version: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct FaceMatch {
    pub(crate) similarity: f32,
    pub(crate) face: Face,
}

/// `Image`: the bytes (base64 in JSON), or an S3 object kvs-local cannot read.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Image {
    pub(crate) bytes: Option<String>,
    #[serde(rename = "S3Object")]
    pub(crate) s3_object: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CollectionInput {
    pub(crate) collection_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PageInput {
    pub(crate) next_token: Option<String>,
    pub(crate) max_results: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct IndexFacesInput {
    pub(crate) collection_id: Option<String>,
    pub(crate) image: Option<Image>,
    pub(crate) external_image_id: Option<String>,
    pub(crate) max_faces: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListFacesInput {
    pub(crate) collection_id: Option<String>,
    pub(crate) next_token: Option<String>,
    pub(crate) max_results: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DeleteFacesInput {
    pub(crate) collection_id: Option<String>,
    #[serde(default)]
    pub(crate) face_ids: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SearchFacesByImageInput {
    pub(crate) collection_id: Option<String>,
    pub(crate) image: Option<Image>,
    pub(crate) max_faces: Option<i64>,
    pub(crate) face_match_threshold: Option<f32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DetectFacesInput {
    pub(crate) image: Option<Image>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ArnRef {
    pub(crate) arn: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ProcessorInput {
    pub(crate) kinesis_video_stream: Option<ArnRef>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ProcessorOutput {
    pub(crate) kinesis_data_stream: Option<ArnRef>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct FaceSearchSettings {
    pub(crate) collection_id: Option<String>,
    pub(crate) face_match_threshold: Option<f32>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ProcessorSettings {
    pub(crate) face_search: Option<FaceSearchSettings>,
}

/// What `CreateStreamProcessor` defines; kept as the processor's definition.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateProcessorInput {
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) input: ProcessorInput,
    #[serde(default)]
    pub(crate) output: ProcessorOutput,
    #[serde(default)]
    pub(crate) settings: ProcessorSettings,
    pub(crate) role_arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ProcessorName {
    pub(crate) name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct KvsStartSelector {
    pub(crate) producer_timestamp: Option<i64>,
    pub(crate) fragment_number: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct StartSelector {
    #[serde(rename = "KVSStreamStartSelector")]
    pub(crate) kvs_stream_start_selector: Option<KvsStartSelector>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct StartProcessorInput {
    pub(crate) name: Option<String>,
    pub(crate) start_selector: Option<StartSelector>,
}

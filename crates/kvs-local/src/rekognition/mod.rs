//! Amazon Rekognition (awsJson1.1, `X-Amz-Target: RekognitionService.<Operation>`): face
//! collections and face search on images, and stream processors that search faces in a
//! Kinesis video stream and write Rekognition's records to a Kinesis data stream.
//!
//! Faces are found and compared by a real local engine (crate `kvs-faces`, see docs/faces.md).

mod collections;
pub(crate) mod engine;
mod model;
pub(crate) mod processors;
mod runner;
mod status;
mod store;

use std::sync::Arc;

use axum::response::Response;
use http::StatusCode;

use crate::App;
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::ids::uuid_v4 as uuid;
use crate::protocol::{PageSize, aws_json_body, aws_json_reply};

/// The `X-Amz-Target` prefix of this service.
pub(crate) const TARGET_PREFIX: &str = "RekognitionService";

/// The largest request body: a 5 MB image, base64-encoded.
pub(crate) const MAX_REQUEST_BODY: usize = 8 << 20;

/// The face model version reported.
pub(crate) const FACE_MODEL_VERSION: &str = "6.0";

/// The operations served, by their target name.
const OPERATIONS: &[&str] = &[
    "CreateCollection",
    "DescribeCollection",
    "ListCollections",
    "DeleteCollection",
    "IndexFaces",
    "ListFaces",
    "DeleteFaces",
    "SearchFacesByImage",
    "DetectFaces",
    "CreateStreamProcessor",
    "DescribeStreamProcessor",
    "ListStreamProcessors",
    "StartStreamProcessor",
    "StopStreamProcessor",
    "DeleteStreamProcessor",
];

/// The operation named in an `X-Amz-Target` after the prefix.
pub(crate) fn operation(name: &str) -> Option<&'static str> {
    OPERATIONS.iter().copied().find(|op| *op == name)
}

/// Runs one operation on a verified request body.
pub(crate) async fn handle(app: &Arc<App>, op: &str, body: &[u8]) -> Result<Response, ApiError> {
    let out = match op {
        "CreateCollection" => collections::create_collection(app, aws_json_body(body)?).await?,
        "DescribeCollection" => collections::describe_collection(app, aws_json_body(body)?).await?,
        "ListCollections" => collections::list_collections(app, aws_json_body(body)?).await?,
        "DeleteCollection" => collections::delete_collection(app, aws_json_body(body)?).await?,
        "IndexFaces" => collections::index_faces(app, aws_json_body(body)?).await?,
        "ListFaces" => collections::list_faces(app, aws_json_body(body)?).await?,
        "DeleteFaces" => collections::delete_faces(app, aws_json_body(body)?).await?,
        "SearchFacesByImage" => {
            collections::search_faces_by_image(app, aws_json_body(body)?).await?
        }
        "DetectFaces" => collections::detect_faces(app, aws_json_body(body)?).await?,
        "CreateStreamProcessor" => processors::create(app, aws_json_body(body)?).await?,
        "DescribeStreamProcessor" => processors::describe(app, aws_json_body(body)?).await?,
        "ListStreamProcessors" => processors::list(app, aws_json_body(body)?).await?,
        "StartStreamProcessor" => processors::start(app, aws_json_body(body)?).await?,
        "StopStreamProcessor" => processors::stop(app, aws_json_body(body)?).await?,
        "DeleteStreamProcessor" => processors::delete(app, aws_json_body(body)?).await?,
        other => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "UnknownOperationException",
                format!("kvs-local has no Rekognition operation {other}"),
            ));
        }
    };
    Ok(aws_json_reply(&out))
}

/// Restarts the processors that were running when the server stopped; they analyse the
/// fragments that arrive from now on.
pub(crate) async fn resume_processors(app: &Arc<App>) {
    if let Err(e) = processors::resume_all(app).await {
        tracing::warn!(error = %e, "cannot resume stream processors");
    }
}

fn invalid_parameter(message: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "InvalidParameterException",
        message,
    )
}

fn not_found(message: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "ResourceNotFoundException",
        message,
    )
}

/// Rekognition's lists: `MaxResults` up to `max`, an InvalidParameterException beyond.
fn max_results(max: i64) -> PageSize {
    PageSize::max_results(max).error(invalid_parameter)
}

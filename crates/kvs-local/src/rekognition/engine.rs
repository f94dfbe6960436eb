//! The face engine behind the Rekognition operations: decode, detect, embed, compare.
//!
//! The engine (crate `kvs-faces`, dlib models) loads on first use, on a blocking thread; its
//! calls run on blocking threads too, so requests never stall the async runtime.

use std::path::PathBuf;
#[cfg(feature = "faces")]
use std::sync::Arc;

use http::StatusCode;

use super::model::FaceDetail;
#[cfg(feature = "faces")]
use super::model::{BoundingBox, Landmark, Pose, Quality};
use crate::error::ApiError;

/// The largest image Rekognition takes as bytes.
pub(crate) const MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024;

/// A face found in an image: how Rekognition describes it, and its embedding.
pub(crate) struct AnalyzedFace {
    pub(crate) detail: FaceDetail,
    pub(crate) embedding: Vec<u8>,
}

/// The lazily loaded engine.
pub(crate) struct Engine {
    models: Option<PathBuf>,
    #[cfg(feature = "faces")]
    loaded: tokio::sync::OnceCell<Arc<kvs_faces::FaceEngine>>,
}

#[cfg(feature = "faces")]
fn invalid_image(message: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "InvalidImageFormatException",
        message.into(),
    )
}

impl Engine {
    pub(crate) fn new(models: Option<PathBuf>) -> Self {
        Self {
            models,
            #[cfg(feature = "faces")]
            loaded: tokio::sync::OnceCell::new(),
        }
    }

    #[cfg(feature = "faces")]
    async fn engine(&self) -> Result<Arc<kvs_faces::FaceEngine>, ApiError> {
        let dir = self
            .models
            .clone()
            .unwrap_or_else(kvs_faces::FaceEngine::default_models_dir);
        self.loaded
            .get_or_try_init(|| async move {
                tokio::task::spawn_blocking(move || kvs_faces::FaceEngine::load(&dir))
                    .await
                    .map_err(ApiError::internal)?
                    .map(Arc::new)
                    .map_err(|e| {
                        ApiError::new(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "InternalServerError",
                            format!("kvs-local cannot load its face models: {e}"),
                        )
                    })
            })
            .await
            .cloned()
    }

    /// Every face in an encoded (JPEG/PNG) image.
    pub(crate) async fn analyze_encoded(
        &self,
        bytes: Vec<u8>,
    ) -> Result<Vec<AnalyzedFace>, ApiError> {
        if bytes.len() > MAX_IMAGE_BYTES {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "ImageTooLargeException",
                format!(
                    "the image has {} bytes; the limit is {MAX_IMAGE_BYTES}",
                    bytes.len()
                ),
            ));
        }
        self.analyze(bytes).await
    }

    #[cfg(feature = "faces")]
    async fn analyze(&self, bytes: Vec<u8>) -> Result<Vec<AnalyzedFace>, ApiError> {
        let engine = self.engine().await?;
        tokio::task::spawn_blocking(move || {
            let image =
                kvs_faces::decode_image(&bytes).map_err(|e| invalid_image(e.to_string()))?;
            let faces = engine.analyze(&image).map_err(ApiError::internal)?;
            Ok(faces.into_iter().map(described).collect())
        })
        .await
        .map_err(ApiError::internal)?
    }

    #[cfg(not(feature = "faces"))]
    async fn analyze(&self, _bytes: Vec<u8>) -> Result<Vec<AnalyzedFace>, ApiError> {
        let _ = &self.models;
        Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "kvs-local was built without the `faces` feature: it has no face engine",
        ))
    }
}

#[cfg(feature = "faces")]
fn described(face: kvs_faces::Face) -> AnalyzedFace {
    let b = face.bounding_box;
    AnalyzedFace {
        detail: FaceDetail {
            bounding_box: BoundingBox {
                width: b.width,
                height: b.height,
                left: b.left,
                top: b.top,
            },
            confidence: face.confidence,
            landmarks: face
                .landmarks
                .iter()
                .map(|l| Landmark {
                    kind: l.kind.as_str(),
                    x: l.x,
                    y: l.y,
                })
                .collect(),
            pose: Pose {
                roll: face.pose.roll,
                yaw: face.pose.yaw,
                pitch: face.pose.pitch,
            },
            quality: Quality {
                brightness: face.quality.brightness,
                sharpness: face.quality.sharpness,
            },
        },
        embedding: face.embedding.to_bytes(),
    }
}

/// How alike two stored embeddings are, 0-100 (`None` if either is unreadable).
#[cfg(feature = "faces")]
pub(crate) fn similarity(a: &[u8], b: &[u8]) -> Option<f32> {
    let a = kvs_faces::Embedding::from_bytes(a).ok()?;
    let b = kvs_faces::Embedding::from_bytes(b).ok()?;
    Some(kvs_faces::similarity(&a, &b))
}

#[cfg(not(feature = "faces"))]
pub(crate) fn similarity(_a: &[u8], _b: &[u8]) -> Option<f32> {
    None
}

#![doc = include_str!("../README.md")]

mod embedding;
mod engine;
#[allow(unsafe_code)]
mod ffi;
mod image;
mod measure;

#[doc(inline)]
pub use embedding::{
    Embedding, SAME_PERSON_DISTANCE, SAME_PERSON_SIMILARITY, similarity, similarity_at,
};
#[doc(inline)]
pub use engine::{FaceEngine, FaceEngineBuilder, MODEL_FILES};
#[doc(inline)]
pub use image::{MAX_PIXELS, RgbImage, decode_image};
#[doc(inline)]
pub use measure::{BoundingBox, Face, Landmark, LandmarkType, Pose, Quality};

use std::path::PathBuf;

/// What went wrong in the face engine. Every message says what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FaceError {
    /// The bytes are not a JPEG or PNG this crate can decode, or the image is empty or too
    /// large. Rekognition answers `InvalidImageFormatException` for these.
    #[error("invalid image: {0}")]
    InvalidImage(String),
    /// Model files are missing from the models directory.
    #[error(
        "face models missing in {}: {}; install them with `scripts/fetch-models` (or `make deps`), \
         or set KVS_FACE_MODELS to a directory that has them",
        dir.display(),
        missing.join(", ")
    )]
    ModelsMissing {
        /// The directory looked in.
        dir: PathBuf,
        /// The files not found there.
        missing: Vec<String>,
    },
    /// A model file exists but dlib cannot read it (truncated download, wrong file).
    #[error(
        "cannot load face model {}: {reason}; delete it and run `scripts/fetch-models` again",
        path.display()
    )]
    ModelInvalid {
        /// The file.
        path: PathBuf,
        /// dlib's complaint.
        reason: String,
    },
    /// Stored embedding bytes are not an embedding ([`Embedding::from_bytes`]).
    #[error("invalid face embedding: {0}; re-index the face from its image")]
    InvalidEmbedding(String),
    /// dlib failed while analysing an image (out of memory, usually).
    #[error("face engine failed: {0}")]
    Engine(String),
    /// Reading a file failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

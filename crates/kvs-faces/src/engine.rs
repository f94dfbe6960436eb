//! [`FaceEngine`]: loads the models and analyses images.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};

use crate::FaceError;
use crate::ffi;
use crate::image::RgbImage;
use crate::measure::{self, Face};

/// The 5-point landmark model (dlib, CC0).
const LANDMARKS_MODEL: &str = "shape_predictor_5_face_landmarks.dat";
/// The ResNet face-recognition model (dlib, CC0).
const NET_MODEL: &str = "dlib_face_recognition_resnet_model_v1.dat";

/// The files a models directory must hold; `scripts/fetch-models` puts them there.
pub const MODEL_FILES: [&str; 2] = [LANDMARKS_MODEL, NET_MODEL];

const DEFAULT_MAX_DETECTION_SIDE: u32 = 1280;
const DEFAULT_UPSAMPLE_BELOW: u32 = 640;

/// Configures a [`FaceEngine`] before loading it; [`FaceEngine::load`] uses the defaults.
#[derive(Debug, Clone)]
pub struct FaceEngineBuilder {
    models_dir: PathBuf,
    max_detection_side: u32,
    upsample_below: u32,
    engines: usize,
}

impl FaceEngineBuilder {
    /// The detector sees images scaled down to at most this many pixels on their longest side
    /// (default 1280; 0 = full size). Detection time grows with the pixel count, and HOG finds
    /// faces of about 80 pixels and up in what it sees: a 1920x1080 frame at 1280 finds faces of
    /// about 120 pixels. Landmarks and embeddings always use the full image.
    pub fn max_detection_side(mut self, pixels: u32) -> Self {
        self.max_detection_side = pixels;
        self
    }

    /// When no face is found in an image whose longest side is at most this (default 640),
    /// look again at twice the size, finding faces down to about 40 pixels. That pass costs
    /// four times the first (a 640x480 image without a face: about 120 ms instead of 25 ms on
    /// one core), so turn it off (0) for a stream of small video frames that are mostly empty.
    pub fn upsample_below(mut self, pixels: u32) -> Self {
        self.upsample_below = pixels;
        self
    }

    /// How many dlib engines to load (default 1), so that this many images are analysed at
    /// once. Each holds its own copy of the models (about 40 MB) and takes about a second to
    /// load. Detection, most of an analysis, runs on one core (only the embedding spreads over
    /// cores, through OpenBLAS), so on a machine with N cores up to N engines raise throughput
    /// about N times.
    pub fn engines(mut self, engines: usize) -> Self {
        self.engines = engines.max(1);
        self
    }

    /// Loads the models: [`FaceError::ModelsMissing`] when files are missing,
    /// [`FaceError::ModelInvalid`] when dlib cannot read one.
    pub fn load(self) -> Result<FaceEngine, FaceError> {
        let missing: Vec<String> = MODEL_FILES
            .iter()
            .filter(|f| !self.models_dir.join(f).is_file())
            .map(|f| (*f).to_owned())
            .collect();
        if !missing.is_empty() {
            return Err(FaceError::ModelsMissing {
                dir: self.models_dir,
                missing,
            });
        }
        let landmarks = self.models_dir.join(LANDMARKS_MODEL);
        let net = self.models_dir.join(NET_MODEL);
        let (landmarks_c, net_c) = (c_path(&landmarks)?, c_path(&net)?);
        let engines = (0..self.engines)
            .map(|_| {
                ffi::Engine::load(&landmarks_c, &net_c)
                    .map(Mutex::new)
                    .map_err(|e| match e.model {
                        Some(ffi::Model::Landmarks) => FaceError::ModelInvalid {
                            path: landmarks.clone(),
                            reason: e.message,
                        },
                        Some(ffi::Model::Net) => FaceError::ModelInvalid {
                            path: net.clone(),
                            reason: e.message,
                        },
                        None => FaceError::Engine(e.message),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(FaceEngine {
            engines,
            next: AtomicUsize::new(0),
            max_detection_side: self.max_detection_side,
            upsample_below: self.upsample_below,
            models_dir: self.models_dir,
        })
    }
}

fn c_path(path: &Path) -> Result<CString, FaceError> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(path.as_os_str().as_bytes()).map_err(|_| FaceError::ModelInvalid {
        path: path.to_owned(),
        reason: "the path contains a NUL byte".to_owned(),
    })
}

/// The face engine: dlib's detector, landmarks and ResNet embeddings, loaded once and shared.
///
/// `Send + Sync`: share it in an `Arc`. Each analysis holds one of its dlib engines (a mutex
/// each, see [`FaceEngineBuilder::engines`]); analyses beyond that wait. An analysis is CPU
/// work of tens of milliseconds: call it from a blocking thread (`spawn_blocking`) in async
/// code.
#[derive(Debug)]
pub struct FaceEngine {
    engines: Vec<Mutex<ffi::Engine>>,
    next: AtomicUsize,
    max_detection_side: u32,
    upsample_below: u32,
    models_dir: PathBuf,
}

impl FaceEngine {
    /// Loads the models from `models_dir` with the default settings (see [`FaceEngine::builder`]).
    pub fn load(models_dir: &Path) -> Result<Self, FaceError> {
        Self::builder(models_dir).load()
    }

    /// Settings to change before loading the models from `models_dir`.
    pub fn builder(models_dir: &Path) -> FaceEngineBuilder {
        FaceEngineBuilder {
            models_dir: models_dir.to_owned(),
            max_detection_side: DEFAULT_MAX_DETECTION_SIDE,
            upsample_below: DEFAULT_UPSAMPLE_BELOW,
            engines: 1,
        }
    }

    /// Where `scripts/fetch-models` puts the models: `$KVS_FACE_MODELS`, else
    /// `$XDG_DATA_HOME/kvs-rs/models`, else `~/.local/share/kvs-rs/models` (else
    /// `./kvs-rs-models` when there is no home directory).
    pub fn default_models_dir() -> PathBuf {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        if let Some(dir) = var("KVS_FACE_MODELS") {
            return PathBuf::from(dir);
        }
        if let Some(data) = var("XDG_DATA_HOME") {
            return PathBuf::from(data).join("kvs-rs").join("models");
        }
        match var("HOME") {
            Some(home) => PathBuf::from(home).join(".local/share/kvs-rs/models"),
            None => PathBuf::from("kvs-rs-models"),
        }
    }

    /// The directory the models were loaded from.
    pub fn models_dir(&self) -> &Path {
        &self.models_dir
    }

    /// Finds the faces in `image` and describes each: box, confidence, landmarks, pose,
    /// quality and embedding. Largest face first; an image without faces gives an empty list.
    pub fn analyze(&self, image: &RgbImage) -> Result<Vec<Face>, FaceError> {
        image.check()?;
        let raw = self
            .engine()
            .analyze(
                &image.data,
                image.width,
                image.height,
                self.max_detection_side,
                self.upsample_below,
            )
            .map_err(FaceError::Engine)?;
        let mut faces: Vec<Face> = raw
            .iter()
            .map(|r| measure::face(image.width, image.height, r))
            .collect();
        faces.sort_by(|a, b| b.bounding_box.area().total_cmp(&a.bounding_box.area()));
        Ok(faces)
    }

    /// A free engine if there is one, else waits for one (round robin).
    fn engine(&self) -> MutexGuard<'_, ffi::Engine> {
        for engine in &self.engines {
            match engine.try_lock() {
                Ok(guard) => return guard,
                // A panic while holding the lock cannot leave the dlib engine half-updated in a
                // way that matters: each analysis starts by clearing its results.
                Err(TryLockError::Poisoned(p)) => return p.into_inner(),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.engines.len();
        self.engines[i]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn engine_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<FaceEngine>();
    }

    #[test]
    fn missing_models_name_the_dir_and_the_fix() {
        let dir = std::env::temp_dir().join("kvs-faces-no-models-here");
        let err = FaceEngine::load(&dir).unwrap_err();
        let FaceError::ModelsMissing { dir: d, missing } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(d, &dir);
        assert_eq!(missing.len(), 2);
        let msg = err.to_string();
        assert!(msg.contains("kvs-faces-no-models-here"), "{msg}");
        assert!(msg.contains("scripts/fetch-models"), "{msg}");
    }
}

//! The only `unsafe` in kvs-faces: calls into the C++ shim (`src/shim/faces.cpp`).
//!
//! [`Engine`] owns one shim engine and exposes safe methods; everything about pixels, faces and
//! errors above this module is safe Rust.

use std::ffi::{CStr, c_char};
use std::ptr::NonNull;

/// Side of the aligned face chips the shim returns.
pub(crate) const CHIP_SIDE: usize = 150;
/// Bytes of one chip (packed RGB8).
pub(crate) const CHIP_BYTES: usize = CHIP_SIDE * CHIP_SIDE * 3;
/// Length of the face descriptor.
pub(crate) const DESCRIPTOR_LEN: usize = 128;

const ERR_LEN: usize = 512;

#[repr(C)]
struct RawEngine {
    _private: [u8; 0],
}

/// `kvs_faces_face` in the shim: one face of the last analysis, in pixels.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct RawFace {
    pub(crate) left: f64,
    pub(crate) top: f64,
    pub(crate) right: f64,
    pub(crate) bottom: f64,
    /// The HOG detector's SVM margin.
    pub(crate) score: f64,
    /// The five landmarks as x, y pairs, in the shape predictor's order.
    pub(crate) points: [f64; 10],
    pub(crate) descriptor: [f32; DESCRIPTOR_LEN],
}

impl RawFace {
    fn zeroed() -> Self {
        RawFace {
            left: 0.0,
            top: 0.0,
            right: 0.0,
            bottom: 0.0,
            score: 0.0,
            points: [0.0; 10],
            descriptor: [0.0; DESCRIPTOR_LEN],
        }
    }
}

unsafe extern "C" {
    fn kvs_faces_engine_new(
        landmarks_path: *const c_char,
        net_path: *const c_char,
        failed: *mut i32,
        err: *mut c_char,
        err_len: usize,
    ) -> *mut RawEngine;
    fn kvs_faces_engine_free(engine: *mut RawEngine);
    fn kvs_faces_analyze(
        engine: *mut RawEngine,
        rgb: *const u8,
        width: u32,
        height: u32,
        max_detection_side: u32,
        upsample_below: u32,
        err: *mut c_char,
        err_len: usize,
    ) -> i64;
    fn kvs_faces_face_get(
        engine: *const RawEngine,
        index: usize,
        out: *mut RawFace,
        chip: *mut u8,
    ) -> i32;
}

/// Which model file a failed load could not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Model {
    Landmarks,
    Net,
}

/// Why loading an engine failed.
#[derive(Debug)]
pub(crate) struct LoadError {
    /// The file dlib could not read, if the failure was reading one.
    pub(crate) model: Option<Model>,
    pub(crate) message: String,
}

/// One face as the shim found it, with its aligned chip.
pub(crate) struct RawResult {
    pub(crate) face: RawFace,
    /// 150x150 packed RGB8, the face aligned as the network saw it.
    pub(crate) chip: Vec<u8>,
}

/// One dlib engine (detector, shape predictor, network). Not `Sync`: the network keeps
/// buffers between calls, so callers serialise access (a `Mutex`).
pub(crate) struct Engine {
    raw: NonNull<RawEngine>,
}

// SAFETY: the shim's engine is plain heap data with no thread affinity (no thread-locals, no
// thread handles); moving it to another thread is sound. It is not `Sync`, and `analyze` takes
// `&mut self`, so it is never used from two threads at once.
unsafe impl Send for Engine {}

/// The shim's NUL-terminated message, on one line (dlib's span several).
fn message(buf: &[c_char]) -> String {
    let bytes: Vec<u8> = buf
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    let text = String::from_utf8_lossy(&bytes);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Engine {
    /// Loads the 5-point shape predictor and the ResNet model from these files. On failure,
    /// says which file dlib could not read, and why.
    pub(crate) fn load(landmarks: &CStr, net: &CStr) -> Result<Self, LoadError> {
        let mut err = [0 as c_char; ERR_LEN];
        let mut failed = 0i32;
        // SAFETY: both paths are NUL-terminated C strings that outlive the call; `failed` is a
        // writable i32; `err` is a writable buffer of `ERR_LEN` bytes, which the shim
        // NUL-terminates within that length.
        let raw = unsafe {
            kvs_faces_engine_new(
                landmarks.as_ptr(),
                net.as_ptr(),
                &mut failed,
                err.as_mut_ptr(),
                ERR_LEN,
            )
        };
        NonNull::new(raw)
            .map(|raw| Engine { raw })
            .ok_or_else(|| LoadError {
                model: match failed {
                    1 => Some(Model::Landmarks),
                    2 => Some(Model::Net),
                    _ => None,
                },
                message: message(&err),
            })
    }

    /// Detects and describes the faces in a packed RGB8 image of `width` x `height`.
    pub(crate) fn analyze(
        &mut self,
        rgb: &[u8],
        width: u32,
        height: u32,
        max_detection_side: u32,
        upsample_below: u32,
    ) -> Result<Vec<RawResult>, String> {
        let expected = (width as usize)
            .checked_mul(height as usize)
            .and_then(|n| n.checked_mul(3));
        if expected != Some(rgb.len()) {
            return Err(format!(
                "{width}x{height} RGB needs {} bytes, got {}",
                width as u128 * height as u128 * 3,
                rgb.len()
            ));
        }
        let mut err = [0 as c_char; ERR_LEN];
        // SAFETY: `self.raw` is a live engine (freed only in Drop) used by this thread alone
        // (`&mut self`); `rgb` holds exactly width * height * 3 bytes (checked above), which the
        // shim only reads; `err` is a writable buffer of `ERR_LEN` bytes.
        let n = unsafe {
            kvs_faces_analyze(
                self.raw.as_ptr(),
                rgb.as_ptr(),
                width,
                height,
                max_detection_side,
                upsample_below,
                err.as_mut_ptr(),
                ERR_LEN,
            )
        };
        let n = usize::try_from(n).map_err(|_| message(&err))?;
        let mut faces = Vec::with_capacity(n);
        for index in 0..n {
            let mut face = RawFace::zeroed();
            let mut chip = vec![0u8; CHIP_BYTES];
            // SAFETY: the engine is live and ours; `face` is a valid `RawFace` (same layout as
            // the shim's `kvs_faces_face`, `repr(C)`) and `chip` has the CHIP_BYTES the shim
            // writes.
            let status = unsafe {
                kvs_faces_face_get(self.raw.as_ptr(), index, &mut face, chip.as_mut_ptr())
            };
            if status != 0 {
                return Err(format!("the engine lost face {index} of {n}"));
            }
            faces.push(RawResult { face, chip });
        }
        Ok(faces)
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dlib engine")
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // SAFETY: `self.raw` came from `kvs_faces_engine_new`, is freed only here, and Drop runs
        // once.
        unsafe { kvs_faces_engine_free(self.raw.as_ptr()) }
    }
}

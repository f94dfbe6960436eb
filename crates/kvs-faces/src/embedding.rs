//! Face embeddings and how alike two of them are.

use crate::FaceError;
use crate::ffi::DESCRIPTOR_LEN;

/// Euclidean distance at which dlib's ResNet model was trained to separate identities: below
/// it, two faces are the same person. [`similarity`] maps it to 80.
pub const SAME_PERSON_DISTANCE: f32 = 0.6;

/// The similarity [`similarity`] gives at [`SAME_PERSON_DISTANCE`]: a sensible default for
/// Rekognition's `FaceMatchThreshold`.
pub const SAME_PERSON_SIMILARITY: f32 = 80.0;

/// How quickly similarity falls around the threshold (distance units per e-fold).
const SOFTNESS: f32 = 0.05;

/// A face's 128-dimensional descriptor from dlib's ResNet model (unit length or close to it).
///
/// Store it with [`Embedding::to_bytes`] (512 bytes, little-endian `f32`s) and read it back
/// with [`Embedding::from_bytes`].
#[derive(Clone, Debug, PartialEq)]
pub struct Embedding([f32; DESCRIPTOR_LEN]);

impl Embedding {
    /// Number of dimensions.
    pub const LEN: usize = DESCRIPTOR_LEN;
    /// Length of [`Embedding::to_bytes`].
    pub const BYTES: usize = DESCRIPTOR_LEN * 4;

    /// An embedding from its values.
    pub fn new(values: [f32; DESCRIPTOR_LEN]) -> Self {
        Embedding(values)
    }

    /// The values.
    pub fn as_slice(&self) -> &[f32] {
        &self.0
    }

    /// 512 bytes: each value as a little-endian `f32`.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    /// Reads what [`Embedding::to_bytes`] wrote.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FaceError> {
        if bytes.len() != Self::BYTES {
            return Err(FaceError::InvalidEmbedding(format!(
                "{} bytes, expected {} (128 little-endian f32)",
                bytes.len(),
                Self::BYTES
            )));
        }
        let mut values = [0f32; DESCRIPTOR_LEN];
        for (v, chunk) in values.iter_mut().zip(bytes.chunks_exact(4)) {
            *v = f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        if values.iter().any(|v| !v.is_finite()) {
            return Err(FaceError::InvalidEmbedding(
                "a value is NaN or infinite".to_owned(),
            ));
        }
        Ok(Embedding(values))
    }

    /// Euclidean distance to another embedding: under [`SAME_PERSON_DISTANCE`] means the same
    /// person.
    pub fn distance(&self, other: &Embedding) -> f32 {
        self.0
            .iter()
            .zip(&other.0)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f32>()
            .sqrt()
    }
}

/// How alike two faces are, 0-100 like Rekognition's `Similarity`: a logistic curve over the
/// Euclidean distance that gives [`SAME_PERSON_SIMILARITY`] (80) at dlib's
/// [`SAME_PERSON_DISTANCE`] (0.6), about 99 at 0.44 (a typical pair of photos of one person) and
/// about 15 at 0.75 (a typical pair of different people).
pub fn similarity(a: &Embedding, b: &Embedding) -> f32 {
    similarity_at(a.distance(b))
}

/// [`similarity`] for a distance already computed.
pub fn similarity_at(distance: f32) -> f32 {
    // 100 / (1 + e^((d - 0.6) / s) / 4): the 1/4 puts the 80 % point on the threshold.
    let odds = ((distance - SAME_PERSON_DISTANCE) / SOFTNESS).exp() / 4.0;
    (100.0 / (1.0 + odds)).clamp(0.0, 100.0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn unit(axis: usize) -> Embedding {
        let mut v = [0f32; DESCRIPTOR_LEN];
        v[axis] = 1.0;
        Embedding::new(v)
    }

    #[test]
    fn bytes_round_trip() {
        let mut v = [0f32; DESCRIPTOR_LEN];
        for (i, x) in v.iter_mut().enumerate() {
            *x = i as f32 / 100.0 - 0.5;
        }
        let e = Embedding::new(v);
        let bytes = e.to_bytes();
        assert_eq!(bytes.len(), 512);
        assert_eq!(Embedding::from_bytes(&bytes).unwrap(), e);
    }

    #[test]
    fn from_bytes_refuses_wrong_length_and_nan() {
        assert!(matches!(
            Embedding::from_bytes(&[0; 511]),
            Err(FaceError::InvalidEmbedding(_))
        ));
        let mut bytes = unit(0).to_bytes();
        bytes[..4].copy_from_slice(&f32::NAN.to_le_bytes());
        assert!(matches!(
            Embedding::from_bytes(&bytes),
            Err(FaceError::InvalidEmbedding(_))
        ));
    }

    #[test]
    fn similarity_curve() {
        assert!((similarity_at(0.6) - 80.0).abs() < 1e-4);
        assert!(similarity_at(0.0) > 99.9);
        assert!(similarity_at(0.44) > 98.0);
        assert!(similarity_at(0.75) < 20.0);
        assert!(similarity_at(2.0) >= 0.0);
        let a = unit(0);
        assert!((similarity(&a, &a) - 100.0).abs() < 0.01);
        // orthogonal unit vectors are sqrt(2) apart: no likeness at all
        assert!(similarity(&a, &unit(1)) < 0.01);
    }
}

//! What [`crate::FaceEngine::analyze`] says about each face, and how it is derived from dlib's
//! detection, five landmarks and aligned face chip.

use crate::embedding::Embedding;
use crate::ffi::{CHIP_SIDE, RawResult};

/// One face found in an image.
#[derive(Debug, Clone, PartialEq)]
pub struct Face {
    /// Where the face is, as fractions of the image size.
    pub bounding_box: BoundingBox,
    /// How sure the detector is that this is a face, 0-100 like Rekognition's `Confidence`.
    pub confidence: f32,
    /// Eye corners and centres, nose and mouth corners (Rekognition's names).
    pub landmarks: Vec<Landmark>,
    /// Head rotation in degrees, estimated from the landmarks.
    pub pose: Pose,
    /// Brightness and sharpness of the face, 0-100.
    pub quality: Quality,
    /// The face's descriptor, for [`crate::similarity`].
    pub embedding: Embedding,
}

impl Face {
    /// The landmark of this kind, if the engine reports it.
    pub fn landmark(&self, kind: LandmarkType) -> Option<&Landmark> {
        self.landmarks.iter().find(|l| l.kind == kind)
    }
}

/// A box as fractions of the image's width and height, from its top-left corner, like
/// Rekognition's `BoundingBox`. Clamped to the image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoundingBox {
    /// Left edge, fraction of the image width.
    pub left: f32,
    /// Top edge, fraction of the image height.
    pub top: f32,
    /// Width, fraction of the image width.
    pub width: f32,
    /// Height, fraction of the image height.
    pub height: f32,
}

impl BoundingBox {
    /// Area as a fraction of the image's.
    pub fn area(&self) -> f32 {
        self.width * self.height
    }

    /// Whether the point (fractions of the image size) is inside.
    pub fn contains(&self, x: f32, y: f32) -> bool {
        x >= self.left
            && x <= self.left + self.width
            && y >= self.top
            && y <= self.top + self.height
    }
}

/// Kinds of landmark the engine reports, with Rekognition's names ([`LandmarkType::as_str`]).
/// Left and right are as seen in the image: `EyeLeft` is the eye nearer the image's left edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LandmarkType {
    /// Centre of the eye on the image's left (`eyeLeft`).
    EyeLeft,
    /// Centre of the eye on the image's right (`eyeRight`).
    EyeRight,
    /// Bottom of the nose (`nose`).
    Nose,
    /// Mouth corner on the image's left (`mouthLeft`), estimated from the eyes and nose: the
    /// 5-point model has no mouth points.
    MouthLeft,
    /// Mouth corner on the image's right (`mouthRight`), estimated like [`Self::MouthLeft`].
    MouthRight,
    /// Outer corner of the left eye (`leftEyeLeft`).
    LeftEyeLeft,
    /// Inner corner of the left eye (`leftEyeRight`).
    LeftEyeRight,
    /// Inner corner of the right eye (`rightEyeLeft`).
    RightEyeLeft,
    /// Outer corner of the right eye (`rightEyeRight`).
    RightEyeRight,
}

impl LandmarkType {
    /// Every kind, in the order [`Face::landmarks`] lists them.
    pub const ALL: [LandmarkType; 9] = [
        LandmarkType::EyeLeft,
        LandmarkType::EyeRight,
        LandmarkType::Nose,
        LandmarkType::MouthLeft,
        LandmarkType::MouthRight,
        LandmarkType::LeftEyeLeft,
        LandmarkType::LeftEyeRight,
        LandmarkType::RightEyeLeft,
        LandmarkType::RightEyeRight,
    ];

    /// Rekognition's name for it (`Landmark.Type`).
    pub fn as_str(&self) -> &'static str {
        match self {
            LandmarkType::EyeLeft => "eyeLeft",
            LandmarkType::EyeRight => "eyeRight",
            LandmarkType::Nose => "nose",
            LandmarkType::MouthLeft => "mouthLeft",
            LandmarkType::MouthRight => "mouthRight",
            LandmarkType::LeftEyeLeft => "leftEyeLeft",
            LandmarkType::LeftEyeRight => "leftEyeRight",
            LandmarkType::RightEyeLeft => "rightEyeLeft",
            LandmarkType::RightEyeRight => "rightEyeRight",
        }
    }
}

impl std::fmt::Display for LandmarkType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A point on the face, as fractions of the image's width and height (Rekognition's
/// `Landmark`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Landmark {
    /// Which point.
    pub kind: LandmarkType,
    /// From the image's left edge, fraction of its width.
    pub x: f32,
    /// From the image's top edge, fraction of its height.
    pub y: f32,
}

/// Head rotation in degrees (Rekognition's `Pose`), estimated from the five landmarks with an
/// average head shape: good to several degrees near frontal, rough beyond about 30 degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pose {
    /// In-plane tilt: positive when the eye on the image's right is lower.
    pub roll: f32,
    /// Turn left/right: positive when the nose points towards the image's right.
    pub yaw: f32,
    /// Nod up/down: positive when the face looks up.
    pub pitch: f32,
}

/// Image quality of the face, 0-100 (Rekognition's `Quality`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quality {
    /// Mean luma of the face's centre: 0 black, 100 white; well-lit faces score about 40-70.
    pub brightness: f32,
    /// How much fine detail the face has for its edges: sharp, well-resolved faces score 70
    /// and up, a Gaussian blur of 2 pixels about 60, blurred or tiny faces (30 pixels wide)
    /// under 25.
    pub sharpness: f32,
}

/// A point in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
struct P {
    x: f64,
    y: f64,
}

impl P {
    fn mid(self, o: P) -> P {
        P {
            x: (self.x + o.x) / 2.0,
            y: (self.y + o.y) / 2.0,
        }
    }
    fn sub(self, o: P) -> P {
        P {
            x: self.x - o.x,
            y: self.y - o.y,
        }
    }
    fn add_scaled(self, v: P, k: f64) -> P {
        P {
            x: self.x + v.x * k,
            y: self.y + v.y * k,
        }
    }
    fn dot(self, o: P) -> f64 {
        self.x * o.x + self.y * o.y
    }
    fn len(self) -> f64 {
        self.dot(self).sqrt()
    }
}

// An average frontal face in units of the distance between the eye centres (what the 5-point
// model measures), with mouth corners from the usual 5-point alignment template.
/// Eye line to nose bottom, straight on.
const NOSE_DROP: f64 = 0.74;
/// How far the nose bottom stands out in front of the eyes.
const NOSE_DEPTH: f64 = 0.4;
/// Eye line to the mouth corners.
const MOUTH_DROP: f64 = 1.15;
/// Half the mouth width.
const MOUTH_HALF_WIDTH: f64 = 0.41;

/// The eyes, nose and mouth of one face in pixels, with Rekognition's left/right.
struct Points {
    left_outer: P,
    left_inner: P,
    right_inner: P,
    right_outer: P,
    nose: P,
}

impl Points {
    /// From the 5-point model's order: one eye's outer then inner corner, the other eye's
    /// outer then inner corner, the nose bottom. Which eye comes first depends on nothing we
    /// can rely on across models, so it is decided by position along the eye line.
    fn from_dlib(p: &[f64; 10]) -> Self {
        let pt = |i: usize| P {
            x: p[2 * i],
            y: p[2 * i + 1],
        };
        let (a_outer, a_inner, b_outer, b_inner) = (pt(0), pt(1), pt(2), pt(3));
        let (left, right) = if a_outer.mid(a_inner).x <= b_outer.mid(b_inner).x {
            ((a_outer, a_inner), (b_outer, b_inner))
        } else {
            ((b_outer, b_inner), (a_outer, a_inner))
        };
        Points {
            left_outer: left.0,
            left_inner: left.1,
            right_inner: right.1,
            right_outer: right.0,
            nose: pt(4),
        }
    }

    fn eye_left(&self) -> P {
        self.left_outer.mid(self.left_inner)
    }

    fn eye_right(&self) -> P {
        self.right_outer.mid(self.right_inner)
    }

    /// Unit vectors along the eye line (towards the image's right) and down the face, and the
    /// eye distance in pixels.
    fn frame(&self) -> (P, P, f64) {
        let across = self.eye_right().sub(self.eye_left());
        let d = across.len().max(1e-6);
        let u = P {
            x: across.x / d,
            y: across.y / d,
        };
        (u, P { x: -u.y, y: u.x }, d)
    }

    fn pose(&self) -> Pose {
        let (u, v, d) = self.frame();
        let mid = self.eye_left().mid(self.eye_right());
        let nose = self.nose.sub(mid);
        let roll = u.y.atan2(u.x);
        // Turning by yaw moves the nose sideways by depth * sin(yaw) and narrows the eyes by
        // cos(yaw): the ratio is depth * tan(yaw).
        let yaw = (nose.dot(u) / d / NOSE_DEPTH).atan();
        // Nodding by pitch moves the nose bottom up by drop * (1 - cos) + depth * sin; the eye
        // distance has shrunk by cos(yaw) with the turn, so undo that first.
        let drop = nose.dot(v) / d * yaw.cos();
        let r = NOSE_DROP.hypot(NOSE_DEPTH);
        let delta = NOSE_DEPTH.atan2(NOSE_DROP);
        // drop = r * cos(pitch + delta); past r (looking down more than delta) it is ambiguous
        let pitch = (drop / r).clamp(-1.0, 1.0).acos() - delta;
        Pose {
            roll: roll.to_degrees() as f32,
            yaw: yaw.to_degrees() as f32,
            pitch: pitch.to_degrees() as f32,
        }
    }

    /// Mouth corners from an average face placed on the eye line: down the face as far past
    /// the nose as the nose is below the eyes (so nodding moves it too), sideways with the
    /// nose when the head turns.
    fn mouth(&self) -> (P, P) {
        let (u, v, d) = self.frame();
        let mid = self.eye_left().mid(self.eye_right());
        let nose = self.nose.sub(mid);
        let centre = mid
            .add_scaled(v, nose.dot(v) * MOUTH_DROP / NOSE_DROP)
            .add_scaled(u, nose.dot(u));
        (
            centre.add_scaled(u, -MOUTH_HALF_WIDTH * d),
            centre.add_scaled(u, MOUTH_HALF_WIDTH * d),
        )
    }
}

/// Maps the HOG detector's SVM margin (0 at its threshold, 1-3 for clear faces) to 0-100:
/// 90 at the threshold, 99 at a margin of 1.
fn confidence(score: f64) -> f32 {
    let z = (2.2 + 2.4 * score).clamp(-50.0, 50.0);
    (100.0 / (1.0 + (-z).exp())) as f32
}

/// Brightness and sharpness of an aligned 150x150 face chip (the face fills its middle two
/// thirds), measured on the middle half, where there is face and little background.
///
/// Sharpness is the energy of the Laplacian (fine detail) over the energy of the gradient (all
/// edges): independent of contrast and lighting, it falls as blur or a low resolution (a small
/// face scaled up into the chip) removes the fine detail first.
fn quality(chip: &[u8]) -> Quality {
    let side = CHIP_SIDE;
    let luma = |x: usize, y: usize| -> f64 {
        let i = (y * side + x) * 3;
        match chip.get(i..i + 3) {
            Some(p) => 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]),
            None => 0.0,
        }
    };
    let (from, to) = (side / 4, side * 3 / 4);
    let (mut sum, mut laplacian, mut gradient, mut n) = (0.0, 0.0, 0.0, 0.0);
    for y in from..to {
        for x in from..to {
            let c = luma(x, y);
            let (l, r, u, d) = (
                luma(x - 1, y),
                luma(x + 1, y),
                luma(x, y - 1),
                luma(x, y + 1),
            );
            let lap = l + r + u + d - 4.0 * c;
            sum += c;
            laplacian += lap * lap;
            gradient += (r - l) * (r - l) + (d - u) * (d - u);
            n += 1.0;
        }
    }
    let ratio = laplacian / gradient.max(1e-9);
    Quality {
        brightness: (sum / n / 255.0 * 100.0) as f32,
        sharpness: (100.0 * (1.0 - (-(ratio / SHARPNESS_SCALE).powi(2)).exp())) as f32,
    }
}

/// Laplacian-to-gradient energy ratio at which sharpness is 63 (1 - 1/e). Measured on a studio
/// portrait: 0.98 as is, 0.42 / 0.22 / 0.12 / 0.05 after a Gaussian blur of sigma 1 / 2 / 4 /
/// 8 pixels, 0.1 with the face 30 pixels wide; press photos 0.27-0.29.
const SHARPNESS_SCALE: f64 = 0.22;

/// Builds the public [`Face`] from what the shim found in a `width` x `height` image.
pub(crate) fn face(width: u32, height: u32, raw: &RawResult) -> Face {
    let (w, h) = (f64::from(width), f64::from(height));
    let f = &raw.face;
    // dlib rectangles include their right and bottom edges
    let left = f.left.clamp(0.0, w);
    let top = f.top.clamp(0.0, h);
    let right = (f.right + 1.0).clamp(0.0, w);
    let bottom = (f.bottom + 1.0).clamp(0.0, h);
    let bounding_box = BoundingBox {
        left: (left / w) as f32,
        top: (top / h) as f32,
        width: ((right - left).max(0.0) / w) as f32,
        height: ((bottom - top).max(0.0) / h) as f32,
    };
    let points = Points::from_dlib(&f.points);
    let (mouth_left, mouth_right) = points.mouth();
    let landmarks = [
        points.eye_left(),
        points.eye_right(),
        points.nose,
        mouth_left,
        mouth_right,
        points.left_outer,
        points.left_inner,
        points.right_inner,
        points.right_outer,
    ]
    .into_iter()
    .zip(LandmarkType::ALL)
    .map(|(p, kind)| Landmark {
        kind,
        x: (p.x / w) as f32,
        y: (p.y / h) as f32,
    })
    .collect();
    Face {
        bounding_box,
        confidence: confidence(f.score),
        landmarks,
        pose: points.pose(),
        quality: quality(&raw.chip),
        embedding: Embedding::new(f.descriptor),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frontal face: eyes 100 px apart at y = 100, nose bottom below their midpoint.
    fn frontal() -> [f64; 10] {
        [
            20.0,
            100.0,
            80.0,
            100.0, // left eye outer, inner
            180.0,
            100.0,
            120.0,
            100.0, // right eye outer, inner
            100.0,
            100.0 + NOSE_DROP * 100.0, // nose bottom
        ]
    }

    #[test]
    fn frontal_pose_is_zero() {
        let pose = Points::from_dlib(&frontal()).pose();
        assert!(pose.roll.abs() < 0.01 && pose.yaw.abs() < 0.01, "{pose:?}");
        assert!(pose.pitch.abs() < 0.01, "{pose:?}");
    }

    #[test]
    fn eye_order_does_not_matter() {
        let f = frontal();
        let swapped = [f[4], f[5], f[6], f[7], f[0], f[1], f[2], f[3], f[8], f[9]];
        let (a, b) = (Points::from_dlib(&f), Points::from_dlib(&swapped));
        assert_eq!(a.eye_left(), b.eye_left());
        assert_eq!(a.right_outer, b.right_outer);
    }

    #[test]
    fn pose_signs() {
        let mut p = frontal();
        p[8] += 20.0; // nose towards the image's right
        assert!(Points::from_dlib(&p).pose().yaw > 10.0);
        let mut p = frontal();
        p[9] -= 20.0; // nose closer to the eyes: looking up
        assert!(Points::from_dlib(&p).pose().pitch > 10.0);
        let mut p = frontal();
        p[9] += 20.0;
        assert!(Points::from_dlib(&p).pose().pitch < -10.0);
        let mut p = frontal();
        p[5] += 30.0; // right eye lower
        p[7] += 30.0;
        assert!(Points::from_dlib(&p).pose().roll > 5.0);
    }

    #[test]
    fn mouth_below_nose_and_between_eyes() {
        let points = Points::from_dlib(&frontal());
        let (l, r) = points.mouth();
        assert!(l.y > points.nose.y && r.y > points.nose.y);
        assert!(l.x < 100.0 && r.x > 100.0);
        assert!(l.x > 20.0 && r.x < 180.0);
    }

    #[test]
    fn confidence_scale() {
        assert!(confidence(0.0) > 89.0 && confidence(0.0) < 91.0);
        assert!(confidence(1.0) > 98.9);
        assert!(confidence(-1.0) < 50.0);
        assert!(confidence(1e9) <= 100.0);
    }

    #[test]
    fn quality_of_flat_and_busy_chips() {
        let grey = vec![128u8; CHIP_SIDE * CHIP_SIDE * 3];
        let q = quality(&grey);
        assert!((q.brightness - 50.2).abs() < 0.1, "{q:?}");
        assert!(q.sharpness < 0.01, "{q:?}");
        let checker: Vec<u8> = (0..CHIP_SIDE * CHIP_SIDE)
            .flat_map(|i| {
                let v = if (i % CHIP_SIDE + i / CHIP_SIDE).is_multiple_of(2) {
                    0
                } else {
                    255
                };
                [v, v, v]
            })
            .collect();
        assert!(quality(&checker).sharpness > 99.0);
    }
}

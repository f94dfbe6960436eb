//! The face engine on real photos: the test photos and models that `scripts/fetch-models`
//! installs (`make deps` runs it); the tests never download anything.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::OnceLock;

use kvs_faces::{Face, FaceEngine, FaceError, LandmarkType, RgbImage, decode_image, similarity};

fn models_dir() -> PathBuf {
    FaceEngine::default_models_dir()
}

fn engine() -> &'static FaceEngine {
    static ENGINE: OnceLock<FaceEngine> = OnceLock::new();
    ENGINE.get_or_init(|| FaceEngine::load(&models_dir()).unwrap_or_else(|e| panic!("{e}")))
}

fn photo_bytes(name: &str) -> Vec<u8> {
    let path = models_dir().join("test-images").join(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "test photo {}: {e}; install the test photos with scripts/fetch-models",
            path.display()
        )
    })
}

type Analysed = Vec<(String, &'static [Face])>;

/// Each photo's faces, analysed once for all tests.
fn faces(name: &str) -> &'static [Face] {
    static CACHE: OnceLock<std::sync::Mutex<Analysed>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap();
    if let Some((_, f)) = cache.iter().find(|(n, _)| n == name) {
        return f;
    }
    let image = decode_image(&photo_bytes(name)).unwrap();
    let found: &'static [Face] = Vec::leak(engine().analyze(&image).unwrap());
    cache.push((name.to_owned(), found));
    found
}

fn only_face(name: &str) -> &'static Face {
    let found = faces(name);
    assert_eq!(found.len(), 1, "{name}: {found:#?}");
    &found[0]
}

const PHOTOS: [&str; 5] = [
    "obama.jpg",
    "obama2.jpg",
    "obama3.jpg",
    "biden.jpg",
    "32bit.png",
];

#[test]
fn same_person_is_above_80() {
    let obama = &only_face("obama.jpg").embedding;
    for other in ["obama2.jpg", "obama3.jpg", "32bit.png"] {
        let s = similarity(obama, &only_face(other).embedding);
        assert!(s > 80.0, "obama.jpg vs {other}: {s}");
    }
}

#[test]
fn different_people_are_below_50() {
    let biden = &only_face("biden.jpg").embedding;
    for obama in ["obama.jpg", "obama2.jpg", "obama3.jpg"] {
        let s = similarity(&only_face(obama).embedding, biden);
        assert!(s < 50.0, "{obama} vs biden.jpg: {s}");
    }
}

#[test]
fn one_face_each_with_a_sensible_box_and_landmarks_inside_it() {
    for name in PHOTOS {
        let face = only_face(name);
        let b = face.bounding_box;
        assert!(b.left >= 0.0 && b.top >= 0.0, "{name}: {b:?}");
        assert!(
            b.left + b.width <= 1.0 && b.top + b.height <= 1.0,
            "{name}: {b:?}"
        );
        // portraits: the face is a good part of the picture, in its upper half
        assert!(b.width > 0.05 && b.width < 0.8, "{name}: {b:?}");
        assert!(b.height > 0.05 && b.height < 0.8, "{name}: {b:?}");
        assert!(b.top < 0.5, "{name}: {b:?}");
        assert!(
            face.confidence > 90.0 && face.confidence <= 100.0,
            "{name}: {}",
            face.confidence
        );
        assert_eq!(face.landmarks.len(), LandmarkType::ALL.len());
        for l in &face.landmarks {
            assert!(
                b.contains(l.x, l.y),
                "{name}: {} at ({}, {}) outside {b:?}",
                l.kind,
                l.x,
                l.y
            );
        }
        let eye = |k| face.landmark(k).unwrap();
        let (left, right) = (eye(LandmarkType::EyeLeft), eye(LandmarkType::EyeRight));
        assert!(
            left.x < right.x,
            "{name}: eyeLeft is the eye on the image's left"
        );
        let nose = eye(LandmarkType::Nose);
        assert!(
            nose.y > left.y && nose.y > right.y,
            "{name}: nose below the eyes"
        );
        let mouth = eye(LandmarkType::MouthLeft);
        assert!(mouth.y > nose.y, "{name}: mouth below the nose");
        // press and portrait photos: near frontal, in focus, lit
        let p = face.pose;
        assert!(
            p.roll.abs() < 20.0 && p.yaw.abs() < 35.0 && p.pitch.abs() < 35.0,
            "{name}: {p:?}"
        );
        let q = face.quality;
        assert!(q.sharpness > 60.0 && q.sharpness <= 100.0, "{name}: {q:?}");
        assert!(q.brightness > 20.0 && q.brightness < 80.0, "{name}: {q:?}");
    }
}

#[test]
fn landmark_names_are_rekognitions() {
    let names: Vec<&str> = only_face("obama.jpg")
        .landmarks
        .iter()
        .map(|l| l.kind.as_str())
        .collect();
    for name in ["eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight"] {
        assert!(names.contains(&name), "{names:?}");
    }
}

/// A PNG made here: a smooth colour gradient, then colour bars.
fn no_face_png(bars: bool) -> Vec<u8> {
    let (w, h) = (640u32, 480u32);
    let mut data = Vec::with_capacity((w * h * 3) as usize);
    const BARS: [[u8; 3]; 7] = [
        [192, 192, 192],
        [192, 192, 0],
        [0, 192, 192],
        [0, 192, 0],
        [192, 0, 192],
        [192, 0, 0],
        [0, 0, 192],
    ];
    for y in 0..h {
        for x in 0..w {
            if bars {
                data.extend_from_slice(&BARS[(x * 7 / w) as usize]);
            } else {
                data.extend_from_slice(&[(x * 255 / w) as u8, (y * 255 / h) as u8, 128]);
            }
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&data).unwrap();
    writer.finish().unwrap();
    out
}

#[test]
fn images_without_faces_give_none() {
    for bars in [false, true] {
        let image = decode_image(&no_face_png(bars)).unwrap();
        assert_eq!((image.width, image.height), (640, 480));
        // 640 px is under the upsampling limit: both passes run and find nothing
        assert!(engine().analyze(&image).unwrap().is_empty());
    }
}

#[test]
fn garbage_is_an_invalid_image() {
    for bytes in [
        &b"GIF89a not supported"[..],
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00 and then nothing",
        &[0u8; 1000],
    ] {
        let err = decode_image(bytes).unwrap_err();
        assert!(matches!(err, FaceError::InvalidImage(_)), "{err:?}");
        assert!(err.to_string().starts_with("invalid image: "), "{err}");
    }
    let err = engine()
        .analyze(&RgbImage {
            width: 10,
            height: 10,
            data: vec![0; 5],
        })
        .unwrap_err();
    assert!(matches!(err, FaceError::InvalidImage(_)), "{err:?}");
}

#[test]
fn a_missing_models_dir_is_models_missing() {
    let dir = tempfile_dir();
    let err = FaceEngine::load(&dir).unwrap_err();
    match &err {
        FaceError::ModelsMissing { dir: d, missing } => {
            assert_eq!(d, &dir);
            assert_eq!(missing.len(), 2, "{missing:?}");
        }
        other => panic!("{other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains(&dir.display().to_string()) && msg.contains("scripts/fetch-models"),
        "{msg}"
    );
}

#[test]
fn a_corrupt_or_wrong_model_is_model_invalid_naming_the_file() {
    const LANDMARKS: &str = "shape_predictor_5_face_landmarks.dat";
    const NET: &str = "dlib_face_recognition_resnet_model_v1.dat";
    let dir = tempfile_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let load_error_path = || match FaceEngine::load(&dir).unwrap_err() {
        FaceError::ModelInvalid { path, reason } => {
            assert!(!reason.is_empty());
            path
        }
        other => panic!("{other:?}"),
    };
    // a truncated download of the network
    std::fs::copy(models_dir().join(LANDMARKS), dir.join(LANDMARKS)).unwrap();
    std::fs::write(dir.join(NET), b"truncated").unwrap();
    assert_eq!(load_error_path(), dir.join(NET));
    // the network where the landmark model should be
    std::fs::copy(models_dir().join(NET), dir.join(LANDMARKS)).unwrap();
    assert_eq!(load_error_path(), dir.join(LANDMARKS));
    std::fs::remove_dir_all(&dir).unwrap();
}

fn tempfile_dir() -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "kvs-faces-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ))
}

#[test]
fn embeddings_survive_bytes() {
    let e = &only_face("obama2.jpg").embedding;
    let back = kvs_faces::Embedding::from_bytes(&e.to_bytes()).unwrap();
    assert_eq!(&back, e);
    assert!(similarity(&back, e) > 99.99);
}

/// Sets the EXIF orientation of a JPEG that already has the tag (as camera photos do).
fn with_orientation(jpeg: &[u8], orientation: u8) -> Vec<u8> {
    let mut out = jpeg.to_vec();
    let big = [0x01, 0x12, 0, 3, 0, 0, 0, 1, 0];
    let little = [0x12, 0x01, 3, 0, 1, 0, 0, 0];
    if let Some(i) = out.windows(big.len()).position(|w| w == big) {
        out[i + big.len()] = orientation;
    } else {
        let i = out.windows(little.len()).position(|w| w == little).unwrap();
        out[i + little.len()] = orientation;
    }
    out
}

#[test]
fn exif_orientation_turns_photos_upright() {
    for name in ["obama2.jpg", "obama.jpg"] {
        // big- and little-endian EXIF
        let bytes = photo_bytes(name);
        let upright = decode_image(&bytes).unwrap();
        let turned = decode_image(&with_orientation(&bytes, 6)).unwrap();
        assert_eq!(
            (turned.width, turned.height),
            (upright.height, upright.width),
            "{name}"
        );
        // orientation 6: the stored image's bottom-left pixel is shown top-left
        assert_eq!(
            turned.pixel(0, 0),
            upright.pixel(0, upright.height - 1),
            "{name}"
        );
        let flipped = decode_image(&with_orientation(&bytes, 3)).unwrap();
        assert_eq!(
            flipped.pixel(0, 0),
            upright.pixel(upright.width - 1, upright.height - 1)
        );
    }
}

#[test]
fn engines_in_parallel_agree_with_one() {
    let engine = FaceEngine::builder(&models_dir())
        .engines(2)
        .load()
        .unwrap();
    let images: Vec<RgbImage> = ["obama.jpg", "biden.jpg"]
        .iter()
        .map(|n| decode_image(&photo_bytes(n)).unwrap())
        .collect();
    let results: Vec<Vec<Face>> = std::thread::scope(|s| {
        let handles: Vec<_> = images
            .iter()
            .map(|image| s.spawn(|| engine.analyze(image).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(results[0], faces("obama.jpg"));
    assert_eq!(results[1], faces("biden.jpg"));
}

#[test]
fn small_faces_are_found_by_upsampling() {
    // obama.jpg at a sixth of its size: the face is about 45 pixels wide, too small for HOG
    // at 1x; the second pass at 2x finds it.
    let full = decode_image(&photo_bytes("obama.jpg")).unwrap();
    let small = shrink(&full, 6);
    let found = engine().analyze(&small).unwrap();
    assert_eq!(
        found.len(),
        1,
        "{}x{}: {found:?}",
        small.width,
        small.height
    );
    let no_upsampling = FaceEngine::builder(&models_dir())
        .upsample_below(0)
        .load()
        .unwrap();
    assert!(no_upsampling.analyze(&small).unwrap().is_empty());
}

/// Box-filter downscale by an integer factor.
fn shrink(image: &RgbImage, k: u32) -> RgbImage {
    let (w, h) = (image.width / k, image.height / k);
    let mut data = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            let mut sum = [0u32; 3];
            for dy in 0..k {
                for dx in 0..k {
                    let p = image.pixel(x * k + dx, y * k + dy);
                    for c in 0..3 {
                        sum[c] += u32::from(p[c]);
                    }
                }
            }
            data.extend(sum.map(|s| (s / (k * k)) as u8));
        }
    }
    RgbImage::new(w, h, data).unwrap()
}

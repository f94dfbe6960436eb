//! Face engine speed on one core and accuracy on the test photos. Run:
//! `cargo bench -p kvs-faces --bench faces` (after `scripts/fetch-models`).
//!
//! Speed: dlib's matrix code runs on OpenBLAS, which would use every core; the bench runs
//! itself again with `OPENBLAS_NUM_THREADS=1` and counts the CPU time of its one thread
//! (`/proc/thread-self/schedstat`), so the figures are per core even while other work shares
//! the machine. Accuracy: every pair of the test photos and variants made here (mirrored,
//! a third of the size, half the brightness), matched at similarity 80. Results go in
//! docs/benchmarks.md and docs/faces.md.

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Instant;

use kvs_faces::{
    Embedding, FaceEngine, RgbImage, SAME_PERSON_SIMILARITY, decode_image, similarity,
};

const ROUNDS: usize = 8;

fn main() {
    if std::env::var_os("OPENBLAS_NUM_THREADS").is_none() {
        let status = Command::new(std::env::current_exe().unwrap())
            .args(std::env::args_os().skip(1))
            .env("OPENBLAS_NUM_THREADS", "1")
            .env("OMP_NUM_THREADS", "1")
            .status()
            .unwrap();
        std::process::exit(status.code().unwrap_or(1));
    }
    let dir = FaceEngine::default_models_dir();
    let t = Instant::now();
    let engine = FaceEngine::load(&dir).unwrap_or_else(|e| panic!("{e}"));
    println!(
        "models loaded in {} ms; resident memory {} MB",
        t.elapsed().as_millis(),
        rss_mb()
    );

    let photo = |name: &str| {
        let bytes = std::fs::read(dir.join("test-images").join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}; run scripts/fetch-models"));
        let cpu = cpu_ns();
        let image = decode_image(&bytes).unwrap();
        (image, (cpu_ns() - cpu) as f64 / 1e6)
    };
    let (obama, decode_ms) = photo("obama.jpg");
    println!(
        "decode obama.jpg ({} KB JPEG, {}x{}): {decode_ms:.1} ms",
        std::fs::metadata(dir.join("test-images/obama.jpg"))
            .unwrap()
            .len()
            / 1000,
        obama.width,
        obama.height
    );

    println!("\nspeed, one core (CPU time per analysis, best of {ROUNDS}):");
    println!("| image | size | faces | ms | faces/s |");
    println!("|---|---|---|---|---|");
    let frame = camera_frame(&obama);
    let empty = RgbImage::new(1280, 720, vec![90; 1280 * 720 * 3]).unwrap();
    let small_empty = RgbImage::new(640, 480, vec![90; 640 * 480 * 3]).unwrap();
    let mut cases: Vec<(String, RgbImage)> = vec![
        ("camera frame, one face".into(), frame),
        ("camera frame, no face".into(), empty),
        ("small frame, no face (2 passes)".into(), small_empty),
    ];
    for name in ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"] {
        cases.push((name.into(), photo(name).0));
    }
    for (name, image) in &cases {
        let mut best = f64::MAX;
        let mut n = 0;
        for _ in 0..ROUNDS {
            let cpu = cpu_ns();
            n = engine.analyze(image).unwrap().len();
            best = best.min((cpu_ns() - cpu) as f64 / 1e6);
        }
        let rate = if n > 0 {
            format!("{:.1}", n as f64 * 1000.0 / best)
        } else {
            "-".into()
        };
        println!(
            "| {name} | {}x{} | {n} | {best:.1} | {rate} |",
            image.width, image.height
        );
    }

    accuracy(&engine, &photo);
}

/// A 1280x720 frame with obama.jpg at half size on grey, as a camera would see a person:
/// the face is about 130 pixels wide.
fn camera_frame(photo: &RgbImage) -> RgbImage {
    let (w, h) = (1280u32, 720u32);
    let mut data = vec![90u8; (w * h * 3) as usize];
    let half = shrink(photo, 2);
    let (ox, oy) = (400, 100);
    for y in 0..half.height.min(h - oy) {
        for x in 0..half.width.min(w - ox) {
            let i = (((y + oy) * w + x + ox) * 3) as usize;
            data[i..i + 3].copy_from_slice(&half.pixel(x, y));
        }
    }
    RgbImage::new(w, h, data).unwrap()
}

fn accuracy(engine: &FaceEngine, photo: &dyn Fn(&str) -> (RgbImage, f64)) {
    let mut set: Vec<(String, &str, Embedding)> = Vec::new();
    for (name, person) in [
        ("obama.jpg", "obama"),
        ("obama2.jpg", "obama"),
        ("obama3.jpg", "obama"),
        ("biden.jpg", "biden"),
    ] {
        let original = photo(name).0;
        let variants = [
            ("", original.clone()),
            (" mirrored", mirror(&original)),
            (" 1/3 size", shrink(&original, 3)),
            (" darker", darken(&original)),
        ];
        for (how, image) in variants {
            let faces = engine.analyze(&image).unwrap();
            assert_eq!(faces.len(), 1, "{name}{how}");
            set.push((format!("{name}{how}"), person, faces[0].embedding.clone()));
        }
    }
    let (mut tp, mut fn_, mut tn, mut fp) = (0, 0, 0, 0);
    let (mut same_min, mut diff_max) = (f32::MAX, f32::MIN);
    let (mut same_far, mut diff_near) = (0f32, f32::MAX);
    for i in 0..set.len() {
        for j in i + 1..set.len() {
            let s = similarity(&set[i].2, &set[j].2);
            let d = set[i].2.distance(&set[j].2);
            let matched = s >= SAME_PERSON_SIMILARITY;
            if set[i].1 == set[j].1 {
                same_min = same_min.min(s);
                same_far = same_far.max(d);
                if matched { tp += 1 } else { fn_ += 1 }
            } else {
                diff_max = diff_max.max(s);
                diff_near = diff_near.min(d);
                if matched { fp += 1 } else { tn += 1 }
            }
        }
    }
    println!(
        "\naccuracy at similarity {SAME_PERSON_SIMILARITY}: {} images (4 photos x original, \
         mirrored, 1/3 size, darker), {} pairs",
        set.len(),
        tp + fn_ + tn + fp
    );
    println!(
        "  same person:      {tp} matched, {fn_} missed \
         (lowest similarity {same_min:.1}, largest distance {same_far:.3})"
    );
    println!(
        "  different people: {tn} told apart, {fp} false matches \
         (highest similarity {diff_max:.1}, smallest distance {diff_near:.3})"
    );
}

fn mirror(image: &RgbImage) -> RgbImage {
    let (w, h) = (image.width, image.height);
    let data = (0..h)
        .flat_map(|y| (0..w).rev().flat_map(move |x| image.pixel(x, y)))
        .collect();
    RgbImage::new(w, h, data).unwrap()
}

fn darken(image: &RgbImage) -> RgbImage {
    let data = image.data.iter().map(|v| v / 2).collect();
    RgbImage::new(image.width, image.height, data).unwrap()
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

/// Resident memory of this process in MB.
fn rss_mb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        / 1024
}

/// CPU time of this thread in nanoseconds.
fn cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
    stat.split_whitespace().next().unwrap().parse().unwrap()
}

//! The inputs that fuzzing found to break the image decoder (fuzz/regressions/image_decode/,
//! replayed by scripts/fuzz-gate too): each must be refused with a typed error, without a panic
//! anywhere, not even one that `decode_image` catches.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use kvs_faces::{FaceError, decode_image};

fn regression_inputs() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/image_decode");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no inputs in {}", dir.display());
    files
}

#[test]
fn fuzz_findings_are_refused_without_a_panic() {
    static PANICKED: AtomicBool = AtomicBool::new(false);
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICKED.store(true, Ordering::SeqCst);
        default_hook(info);
    }));
    for path in regression_inputs() {
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let result = decode_image(&bytes);
        assert!(
            !PANICKED.load(Ordering::SeqCst),
            "{}: the decoder panicked",
            path.display()
        );
        match result {
            Err(FaceError::InvalidImage(_)) => {}
            other => panic!("{}: {other:?}, not InvalidImage", path.display()),
        }
    }
}

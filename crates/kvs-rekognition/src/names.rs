//! Checks of ids and names as Rekognition and Kinesis check them, so a bad one is a clear error
//! before anything is sent, and the external id of a face photo from its file name.

use std::path::Path;

use crate::{Error, Result};

/// The extensions of the face photos a folder is indexed from.
pub const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png"];

fn check(
    field: &'static str,
    value: &str,
    max: usize,
    extra: &[u8],
    allowed: &'static str,
) -> Result<()> {
    if value.is_empty() || value.len() > max {
        return Err(Error::invalid(
            field,
            value,
            format!("use 1 to {max} characters"),
        ));
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || (c.is_ascii() && extra.contains(&(*c as u8)))))
    {
        return Err(Error::invalid(
            field,
            value,
            format!("{c:?} is not allowed; use {allowed}"),
        ));
    }
    Ok(())
}

/// A face collection id: 1-255 characters of `[a-zA-Z0-9_.-]`.
pub fn check_collection_id(id: &str) -> Result<()> {
    check(
        "collection id",
        id,
        255,
        b"_.-",
        "letters, digits, '_', '.' and '-'",
    )
}

/// A stream processor name: 1-128 characters of `[a-zA-Z0-9_.-]`.
pub fn check_processor_name(name: &str) -> Result<()> {
    check(
        "stream processor name",
        name,
        128,
        b"_.-",
        "letters, digits, '_', '.' and '-'",
    )
}

/// A Kinesis data stream name: 1-128 characters of `[a-zA-Z0-9_.-]`.
pub fn check_data_stream_name(name: &str) -> Result<()> {
    check(
        "Kinesis data stream name",
        name,
        128,
        b"_.-",
        "letters, digits, '_', '.' and '-'",
    )
}

/// An external image id: 1-255 characters of `[a-zA-Z0-9_.-:]`.
pub fn check_external_image_id(id: &str) -> Result<()> {
    check(
        "external image id",
        id,
        255,
        b"_.-:",
        "letters, digits, '_', '.', '-' and ':' (rename the file)",
    )
}

/// A face-match threshold: a similarity from 0 to 100.
pub fn check_threshold(threshold: f32) -> Result<()> {
    if !(0.0..=100.0).contains(&threshold) {
        return Err(Error::invalid(
            "face match threshold",
            &threshold.to_string(),
            "use a similarity from 0 to 100 (Rekognition's default is 80)",
        ));
    }
    Ok(())
}

/// Whether `path` names a face photo (`.jpg`, `.jpeg` or `.png`, any case).
pub fn is_face_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// The external image id of a face photo: its file name without the extension
/// (`danny-1.jpg` -> `danny-1`), checked as Rekognition checks it.
pub fn external_id_from_path(path: &Path) -> Result<String> {
    let stem = path.file_stem().and_then(|s| s.to_str()).ok_or_else(|| {
        Error::invalid(
            "external image id",
            &path.display().to_string(),
            "the file name is not UTF-8; rename the file",
        )
    })?;
    check_external_image_id(stem)?;
    Ok(stem.to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn external_id_is_the_file_stem() {
        assert_eq!(
            external_id_from_path(Path::new("faces/danny-1.jpg")).unwrap(),
            "danny-1"
        );
        assert_eq!(
            external_id_from_path(Path::new("/x/Ana_B.2.JPEG")).unwrap(),
            "Ana_B.2"
        );
        assert_eq!(
            external_id_from_path(Path::new("door:cam.png")).unwrap(),
            "door:cam"
        );
        let err = external_id_from_path(Path::new("danny 1.jpg")).unwrap_err();
        assert!(err.to_string().contains("rename the file"), "{err}");
    }

    #[test]
    fn only_photos_are_indexed() {
        assert!(is_face_image(Path::new("a.jpg")));
        assert!(is_face_image(Path::new("a.JPG")));
        assert!(is_face_image(Path::new("a.jpeg")));
        assert!(is_face_image(Path::new("a.png")));
        assert!(!is_face_image(Path::new("a.gif")));
        assert!(!is_face_image(Path::new("README")));
    }

    #[test]
    fn names_and_thresholds_are_checked() {
        assert!(check_collection_id("faces-1.a_b").is_ok());
        assert!(check_collection_id("").is_err());
        assert!(check_collection_id("a/b").is_err());
        assert!(check_processor_name(&"p".repeat(129)).is_err());
        assert!(check_data_stream_name("kvs-ml").is_ok());
        assert!(check_threshold(80.0).is_ok());
        assert!(check_threshold(101.0).is_err());
        assert!(check_threshold(f32::NAN).is_err());
    }
}

//! Face collections and indexing face photos into them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aws_sdk_rekognition::primitives::Blob;
use aws_sdk_rekognition::types::{Face, Image};
use serde::Serialize;

use crate::error::{Subject, service};
use crate::names::{check_collection_id, external_id_from_path, is_face_image};
use crate::record::BoundingBox;
use crate::{Error, Rekognition, Result, rfc3339};

/// The largest image Rekognition accepts as bytes.
const MAX_IMAGE_BYTES: u64 = 5 * 1024 * 1024;

/// A collection as `DescribeCollection` reports it; serialises with the AWS CLI's field names.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CollectionInfo {
    /// The collection's id.
    pub collection_id: String,
    /// Its ARN.
    #[serde(rename = "CollectionARN")]
    pub collection_arn: String,
    /// How many faces it holds.
    pub face_count: i64,
    /// The face model's version.
    pub face_model_version: String,
    /// When it was created (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<String>,
}

/// A new collection as `CreateCollection` reports it; AWS CLI field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreatedCollection {
    /// The HTTP status the service answered with.
    pub status_code: i32,
    /// The collection's ARN.
    pub collection_arn: String,
    /// The face model's version.
    pub face_model_version: String,
}

/// A collection as `ListCollections` names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CollectionSummary {
    /// The collection's id.
    pub collection_id: String,
    /// The face model's version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub face_model_version: Option<String>,
}

/// An indexed face; serialises as Rekognition's `Face`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FaceInfo {
    /// The face's id.
    pub face_id: String,
    /// The external id it was indexed with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_image_id: Option<String>,
    /// The id of the image it came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    /// Detection confidence (0-100).
    pub confidence: f32,
    /// Where the face was in its image.
    pub bounding_box: BoundingBox,
}

impl FaceInfo {
    fn from_sdk(f: &Face) -> Self {
        let b = f.bounding_box();
        Self {
            face_id: f.face_id().unwrap_or_default().to_owned(),
            external_image_id: f.external_image_id().map(str::to_owned),
            image_id: f.image_id().map(str::to_owned),
            confidence: f.confidence().unwrap_or_default(),
            bounding_box: BoundingBox {
                width: b.and_then(|b| b.width()).unwrap_or_default(),
                height: b.and_then(|b| b.height()).unwrap_or_default(),
                left: b.and_then(|b| b.left()).unwrap_or_default(),
                top: b.and_then(|b| b.top()).unwrap_or_default(),
            },
        }
    }
}

/// What became of one photo of a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IndexStatus {
    /// Its face is now in the collection.
    Indexed,
    /// A face with its external id was in the collection already; the photo was not sent.
    AlreadyIndexed,
    /// Rekognition found no face (or none good enough) in it.
    NoFace,
    /// It could not be indexed (see the reason): a bad name, too large, not an image.
    Rejected,
}

/// One photo of a folder and what became of it; serialises with PascalCase field names.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct IndexOutcome {
    /// The photo.
    pub file: PathBuf,
    /// Its external id (the file name without the extension).
    pub external_image_id: String,
    /// What happened.
    pub status: IndexStatus,
    /// The faces indexed from it.
    pub face_ids: Vec<String>,
    /// Why it was not indexed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The face photos of `dir` (not its subfolders), by file name.
pub(crate) fn face_images(dir: &Path) -> Result<Vec<PathBuf>> {
    let io = |source| Error::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_file() && is_face_image(&path) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

impl Rekognition {
    /// Creates a collection; [`Error::CollectionExists`] if the id is taken.
    pub async fn create_collection(&self, id: &str) -> Result<CreatedCollection> {
        check_collection_id(id)?;
        let out = self
            .client
            .create_collection()
            .collection_id(id)
            .send()
            .await
            .map_err(service("CreateCollection", Subject::Collection(id)))?;
        Ok(CreatedCollection {
            status_code: out.status_code().unwrap_or(200),
            collection_arn: out.collection_arn().unwrap_or_default().to_owned(),
            face_model_version: out.face_model_version().unwrap_or_default().to_owned(),
        })
    }

    /// The collection, created if it does not exist yet; says whether it was created.
    pub async fn ensure_collection(&self, id: &str) -> Result<(CollectionInfo, bool)> {
        match self.describe_collection(id).await {
            Ok(info) => return Ok((info, false)),
            Err(Error::CollectionNotFound(_)) => {}
            Err(e) => return Err(e),
        }
        let created = match self.create_collection(id).await {
            Ok(_) => true,
            Err(Error::CollectionExists(_)) => false,
            Err(e) => return Err(e),
        };
        Ok((self.describe_collection(id).await?, created))
    }

    /// Describes a collection.
    pub async fn describe_collection(&self, id: &str) -> Result<CollectionInfo> {
        check_collection_id(id)?;
        let out = self
            .client
            .describe_collection()
            .collection_id(id)
            .send()
            .await
            .map_err(service("DescribeCollection", Subject::Collection(id)))?;
        Ok(CollectionInfo {
            collection_id: id.to_owned(),
            collection_arn: out.collection_arn().unwrap_or_default().to_owned(),
            face_count: out.face_count().unwrap_or_default(),
            face_model_version: out.face_model_version().unwrap_or_default().to_owned(),
            creation_timestamp: rfc3339(out.creation_timestamp()),
        })
    }

    /// Every collection (all pages).
    pub async fn list_collections(&self) -> Result<Vec<CollectionSummary>> {
        let mut pages = self.client.list_collections().into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(service("ListCollections", Subject::Other))?;
            let versions = page.face_model_versions();
            out.extend(
                page.collection_ids()
                    .iter()
                    .enumerate()
                    .map(|(i, id)| CollectionSummary {
                        collection_id: id.clone(),
                        face_model_version: versions.get(i).cloned(),
                    }),
            );
        }
        Ok(out)
    }

    /// Deletes a collection and its faces.
    pub async fn delete_collection(&self, id: &str) -> Result<()> {
        check_collection_id(id)?;
        self.client
            .delete_collection()
            .collection_id(id)
            .send()
            .await
            .map_err(service("DeleteCollection", Subject::Collection(id)))?;
        Ok(())
    }

    /// Every face in a collection (all pages).
    pub async fn list_faces(&self, collection: &str) -> Result<Vec<FaceInfo>> {
        check_collection_id(collection)?;
        let mut pages = self
            .client
            .list_faces()
            .collection_id(collection)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(service("ListFaces", Subject::Collection(collection)))?;
            out.extend(page.faces().iter().map(FaceInfo::from_sdk));
        }
        Ok(out)
    }

    /// Indexes the largest face of an image under `external_id`; returns the faces indexed
    /// (none when no face was found).
    pub async fn index_image(
        &self,
        collection: &str,
        image: Vec<u8>,
        external_id: &str,
    ) -> Result<Vec<FaceInfo>> {
        check_collection_id(collection)?;
        crate::names::check_external_image_id(external_id)?;
        let out = self
            .client
            .index_faces()
            .collection_id(collection)
            .image(Image::builder().bytes(Blob::new(image)).build())
            .external_image_id(external_id)
            // One reference photo per person: the largest face is the one meant.
            .max_faces(1)
            .send()
            .await
            .map_err(|e| {
                let source: kvs_endpoint::ServiceError = e.into();
                if rejects_image(source.code()) {
                    return Error::InvalidImage {
                        external_image_id: external_id.to_owned(),
                        message: source.to_string(),
                    };
                }
                service("IndexFaces", Subject::Collection(collection))(source)
            })?;
        Ok(out
            .face_records()
            .iter()
            .filter_map(|r| r.face())
            .map(FaceInfo::from_sdk)
            .collect())
    }

    /// Indexes every `*.jpg`, `*.jpeg` and `*.png` of `dir` (not its subfolders) under its file
    /// name without the extension, skipping external ids the collection already holds, so
    /// running it again only adds new photos. `progress` sees each photo's outcome as it
    /// comes, with how many photos are done and how many there are. A photo that cannot be
    /// indexed is reported, not an error; the collection must exist.
    pub async fn index_folder(
        &self,
        collection: &str,
        dir: &Path,
        mut progress: impl FnMut(usize, usize, &IndexOutcome),
    ) -> Result<Vec<IndexOutcome>> {
        let files = face_images(dir)?;
        let mut known: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for face in self.list_faces(collection).await? {
            if let Some(id) = face.external_image_id {
                known.entry(id).or_default().push(face.face_id);
            }
        }
        let total = files.len();
        let mut outcomes = Vec::with_capacity(total);
        for file in files {
            let outcome = self.index_file(collection, file, &mut known).await?;
            progress(outcomes.len() + 1, total, &outcome);
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    async fn index_file(
        &self,
        collection: &str,
        file: PathBuf,
        known: &mut BTreeMap<String, Vec<String>>,
    ) -> Result<IndexOutcome> {
        let mut outcome = IndexOutcome {
            external_image_id: file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            status: IndexStatus::Rejected,
            face_ids: Vec::new(),
            reason: None,
            file,
        };
        match external_id_from_path(&outcome.file) {
            Ok(id) => outcome.external_image_id = id,
            Err(e) => {
                outcome.reason = Some(e.to_string());
                return Ok(outcome);
            }
        }
        if let Some(faces) = known.get(&outcome.external_image_id) {
            outcome.status = IndexStatus::AlreadyIndexed;
            outcome.face_ids.clone_from(faces);
            return Ok(outcome);
        }
        let size = std::fs::metadata(&outcome.file)
            .map_err(|source| Error::Io {
                path: outcome.file.clone(),
                source,
            })?
            .len();
        if size > MAX_IMAGE_BYTES {
            outcome.reason = Some(format!(
                "{size} bytes is over Rekognition's 5 MB limit for images; scale it down"
            ));
            return Ok(outcome);
        }
        let bytes = tokio::fs::read(&outcome.file)
            .await
            .map_err(|source| Error::Io {
                path: outcome.file.clone(),
                source,
            })?;
        match self
            .index_image(collection, bytes, &outcome.external_image_id)
            .await
        {
            Ok(faces) if faces.is_empty() => {
                outcome.status = IndexStatus::NoFace;
                outcome.reason = Some("no face found".to_owned());
            }
            Ok(faces) => {
                outcome.status = IndexStatus::Indexed;
                outcome.face_ids = faces.into_iter().map(|f| f.face_id).collect();
                known.insert(outcome.external_image_id.clone(), outcome.face_ids.clone());
            }
            Err(Error::InvalidImage { message, .. }) => outcome.reason = Some(message),
            Err(Error::Service { source, .. })
                if source.code() == Some("InvalidParameterException") =>
            {
                outcome.reason = Some(source.to_string());
            }
            Err(e) => return Err(e),
        }
        Ok(outcome)
    }
}

/// Whether an IndexFaces error is about the photo itself (so the next photo may still work).
fn rejects_image(code: Option<&str>) -> bool {
    matches!(
        code,
        Some(
            "InvalidImageFormatException" | "ImageTooLargeException" | "InvalidParameterException"
        )
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_folder_lists_its_photos_by_name() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["b.png", "a.JPG", "c.jpeg", "notes.txt"] {
            std::fs::write(dir.path().join(f), b"x").unwrap();
        }
        std::fs::create_dir(dir.path().join("sub.jpg")).unwrap();
        let names: Vec<String> = face_images(dir.path())
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.JPG", "b.png", "c.jpeg"]);
    }

    #[test]
    fn a_missing_folder_names_itself() {
        let err = face_images(Path::new("/no/such/faces")).unwrap_err();
        assert!(err.to_string().starts_with("/no/such/faces:"), "{err}");
    }
}

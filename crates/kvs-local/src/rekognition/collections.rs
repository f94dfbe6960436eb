//! Face collections: create/describe/list/delete, IndexFaces, ListFaces, DeleteFaces,
//! SearchFacesByImage and DetectFaces.

use base64::Engine as _;
use serde_json::{Value, json};

use super::engine::{AnalyzedFace, similarity};
use super::model::{
    CollectionInput, DeleteFacesInput, DetectFacesInput, Face, FaceMatch, Image, IndexFacesInput,
    ListFacesInput, PageInput, SearchFacesByImageInput,
};
use super::store::{self, CollectionRow, FaceRow};
use super::{FACE_MODEL_VERSION, invalid_parameter, max_results, not_found, now_ms, uuid};
use crate::App;
use crate::error::ApiError;
use crate::protocol::epoch_seconds;

/// The default similarity a match must reach (Rekognition's default).
pub(crate) const DEFAULT_THRESHOLD: f32 = 80.0;

fn collection_id(id: Option<String>) -> Result<String, ApiError> {
    let id = id.ok_or_else(|| invalid_parameter("CollectionId is required"))?;
    let valid = (1..=255).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if !valid {
        return Err(invalid_parameter(format!(
            "CollectionId {id:?} is not valid: use 1-255 characters of A-Z, a-z, 0-9, '_', '.', '-'"
        )));
    }
    Ok(id)
}

async fn load(app: &App, id: &str) -> Result<CollectionRow, ApiError> {
    let key = id.to_owned();
    app.db
        .tx(move |tx| store::find_collection(tx, &key))
        .await?
        .ok_or_else(|| not_found(format!("The collection id: {id} does not exist")))
}

fn image_bytes(image: Option<Image>) -> Result<Vec<u8>, ApiError> {
    let image = image.ok_or_else(|| invalid_parameter("Image is required"))?;
    if image.s3_object.is_some() {
        return Err(invalid_parameter(
            "kvs-local cannot read S3 objects: send the image as Bytes",
        ));
    }
    let b64 = image
        .bytes
        .ok_or_else(|| invalid_parameter("Image.Bytes is required"))?;
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| invalid_parameter(format!("Image.Bytes is not base64: {e}")))
}

fn face_of(row: &FaceRow) -> Face {
    Face {
        face_id: row.face_id.clone(),
        bounding_box: row.bounding_box,
        image_id: row.image_id.clone(),
        external_image_id: row.external_image_id.clone(),
        confidence: row.confidence,
        index_faces_model_version: FACE_MODEL_VERSION,
    }
}

pub(super) async fn create_collection(
    app: &App,
    input: CollectionInput,
) -> Result<Value, ApiError> {
    let id = collection_id(input.collection_id)?;
    let arn = format!(
        "arn:aws:rekognition:{}:{}:collection/{id}",
        app.config.region, app.config.account_id
    );
    let row = CollectionRow {
        id: id.clone(),
        arn: arn.clone(),
        creation_time_ms: now_ms(),
    };
    app.db
        .tx(move |tx| {
            if store::find_collection(tx, &row.id)?.is_some() {
                return Err(ApiError::new(
                    http::StatusCode::BAD_REQUEST,
                    "ResourceAlreadyExistsException",
                    format!("The collection id: {} already exists", row.id),
                ));
            }
            store::insert_collection(tx, &row)
        })
        .await?;
    Ok(json!({
        "StatusCode": 200,
        "CollectionArn": arn,
        "FaceModelVersion": FACE_MODEL_VERSION,
    }))
}

pub(super) async fn describe_collection(
    app: &App,
    input: CollectionInput,
) -> Result<Value, ApiError> {
    let id = collection_id(input.collection_id)?;
    let c = load(app, &id).await?;
    let count = app.db.tx(move |tx| store::face_count(tx, &id)).await?;
    Ok(json!({
        "FaceCount": count,
        "UserCount": 0,
        "FaceModelVersion": FACE_MODEL_VERSION,
        "CollectionARN": c.arn,
        "CreationTimestamp": epoch_seconds(c.creation_time_ms),
    }))
}

pub(super) async fn list_collections(app: &App, input: PageInput) -> Result<Value, ApiError> {
    let limit = max_results(1000).of(input.max_results)?;
    let after = input.next_token.unwrap_or_default();
    let mut ids = app
        .db
        .tx(move |tx| store::list_collections(tx, &after, limit + 1))
        .await?;
    let next = (ids.len() > limit).then(|| {
        ids.truncate(limit);
        ids.last().cloned().unwrap_or_default()
    });
    let versions: Vec<&str> = ids.iter().map(|_| FACE_MODEL_VERSION).collect();
    let mut out = json!({ "CollectionIds": ids, "FaceModelVersions": versions });
    if let Some(next) = next {
        out["NextToken"] = next.into();
    }
    Ok(out)
}

pub(super) async fn delete_collection(
    app: &App,
    input: CollectionInput,
) -> Result<Value, ApiError> {
    let id = collection_id(input.collection_id)?;
    load(app, &id).await?;
    app.db
        .tx(move |tx| store::delete_collection(tx, &id))
        .await?;
    Ok(json!({ "StatusCode": 200 }))
}

pub(super) async fn index_faces(app: &App, input: IndexFacesInput) -> Result<Value, ApiError> {
    let id = collection_id(input.collection_id)?;
    if let Some(ext) = &input.external_image_id {
        let valid = (1..=255).contains(&ext.len())
            && ext
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b':'));
        if !valid {
            return Err(invalid_parameter(format!(
                "ExternalImageId {ext:?} is not valid: use 1-255 characters of A-Z, a-z, 0-9, '_', '.', '-', ':'"
            )));
        }
    }
    let max_faces = match input.max_faces {
        None => usize::MAX,
        Some(n) if n >= 1 => n as usize,
        Some(n) => {
            return Err(invalid_parameter(format!(
                "MaxFaces {n} must be at least 1"
            )));
        }
    };
    load(app, &id).await?;
    let bytes = image_bytes(input.image)?;
    let mut faces = app.faces.analyze_encoded(bytes).await?;
    // The largest faces are indexed first, as Rekognition does with MaxFaces.
    faces.sort_by(|a, b| {
        let area = |f: &AnalyzedFace| f.detail.bounding_box.width * f.detail.bounding_box.height;
        area(b).total_cmp(&area(a))
    });
    let unindexed = faces.split_off(max_faces.min(faces.len()));
    let image_id = uuid();
    let rows: Vec<(FaceRow, AnalyzedFace)> = faces
        .into_iter()
        .map(|f| {
            (
                FaceRow {
                    face_id: uuid(),
                    image_id: image_id.clone(),
                    external_image_id: input.external_image_id.clone(),
                    bounding_box: f.detail.bounding_box,
                    confidence: f.detail.confidence,
                    embedding: f.embedding.clone(),
                },
                f,
            )
        })
        .collect();
    let records: Vec<Value> = rows
        .iter()
        .map(|(row, f)| json!({ "Face": face_of(row), "FaceDetail": f.detail }))
        .collect();
    let stored: Vec<FaceRow> = rows.into_iter().map(|(row, _)| row).collect();
    let now = now_ms();
    app.db
        .tx(move |tx| {
            for row in &stored {
                store::insert_face(tx, &id, row, now)?;
            }
            Ok(())
        })
        .await?;
    let unindexed: Vec<Value> = unindexed
        .iter()
        .map(|f| json!({ "Reasons": ["EXCEEDS_MAX_FACES"], "FaceDetail": f.detail }))
        .collect();
    Ok(json!({
        "FaceRecords": records,
        "FaceModelVersion": FACE_MODEL_VERSION,
        "UnindexedFaces": unindexed,
    }))
}

pub(super) async fn list_faces(app: &App, input: ListFacesInput) -> Result<Value, ApiError> {
    let id = collection_id(input.collection_id)?;
    let limit = max_results(4096).of(input.max_results)?;
    load(app, &id).await?;
    let after = input.next_token.unwrap_or_default();
    let mut rows = app
        .db
        .tx(move |tx| store::faces(tx, &id, &after, limit + 1))
        .await?;
    let next = (rows.len() > limit).then(|| {
        rows.truncate(limit);
        rows.last().map(|r| r.face_id.clone()).unwrap_or_default()
    });
    let faces: Vec<Face> = rows.iter().map(face_of).collect();
    let mut out = json!({ "Faces": faces, "FaceModelVersion": FACE_MODEL_VERSION });
    if let Some(next) = next {
        out["NextToken"] = next.into();
    }
    Ok(out)
}

pub(super) async fn delete_faces(app: &App, input: DeleteFacesInput) -> Result<Value, ApiError> {
    let id = collection_id(input.collection_id)?;
    if !(1..=4096).contains(&input.face_ids.len()) {
        return Err(invalid_parameter("FaceIds must hold 1 to 4096 ids"));
    }
    load(app, &id).await?;
    let ids = input.face_ids;
    let deleted = app
        .db
        .tx(move |tx| store::delete_faces(tx, &id, &ids))
        .await?;
    Ok(json!({ "DeletedFaces": deleted }))
}

/// Every face of `collection` at least `threshold` alike `embedding`, best first.
pub(crate) async fn search(
    app: &App,
    collection: &str,
    embedding: &[u8],
    threshold: f32,
    max: usize,
) -> Result<Vec<FaceMatch>, ApiError> {
    let id = collection.to_owned();
    let rows = app
        .db
        .tx(move |tx| store::faces(tx, &id, "", usize::MAX >> 1))
        .await?;
    let mut matches: Vec<FaceMatch> = rows
        .iter()
        .filter_map(|row| {
            let s = similarity(embedding, &row.embedding)?;
            (s >= threshold).then(|| FaceMatch {
                similarity: s,
                face: face_of(row),
            })
        })
        .collect();
    matches.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
    matches.truncate(max);
    Ok(matches)
}

fn threshold(t: Option<f32>) -> Result<f32, ApiError> {
    match t {
        None => Ok(DEFAULT_THRESHOLD),
        Some(t) if (0.0..=100.0).contains(&t) => Ok(t),
        Some(t) => Err(invalid_parameter(format!(
            "FaceMatchThreshold {t} must be between 0 and 100"
        ))),
    }
}

pub(super) async fn search_faces_by_image(
    app: &App,
    input: SearchFacesByImageInput,
) -> Result<Value, ApiError> {
    let id = collection_id(input.collection_id)?;
    let threshold = threshold(input.face_match_threshold)?;
    let max = match input.max_faces {
        None => 80,
        Some(n) if (1..=4096).contains(&n) => n as usize,
        Some(n) => return Err(invalid_parameter(format!("MaxFaces {n} must be 1 to 4096"))),
    };
    load(app, &id).await?;
    let faces = app.faces.analyze_encoded(image_bytes(input.image)?).await?;
    // The largest face is the one searched for, as in Rekognition.
    let face = faces
        .into_iter()
        .max_by(|a, b| {
            let area =
                |f: &AnalyzedFace| f.detail.bounding_box.width * f.detail.bounding_box.height;
            area(a).total_cmp(&area(b))
        })
        .ok_or_else(|| {
            invalid_parameter("There are no faces in the image. Should be at least 1.")
        })?;
    let matches = search(app, &id, &face.embedding, threshold, max).await?;
    Ok(json!({
        "SearchedFaceBoundingBox": face.detail.bounding_box,
        "SearchedFaceConfidence": face.detail.confidence,
        "FaceMatches": matches,
        "FaceModelVersion": FACE_MODEL_VERSION,
    }))
}

pub(super) async fn detect_faces(app: &App, input: DetectFacesInput) -> Result<Value, ApiError> {
    let faces = app.faces.analyze_encoded(image_bytes(input.image)?).await?;
    let details: Vec<_> = faces.into_iter().map(|f| f.detail).collect();
    Ok(json!({ "FaceDetails": details }))
}

//! Rekognition state in the embedded database: collections, indexed faces and processors.

use rusqlite::{OptionalExtension, Transaction, params};

use super::model::BoundingBox;
use crate::db::db_err;
use crate::error::ApiError;

pub(crate) struct CollectionRow {
    pub(crate) id: String,
    pub(crate) arn: String,
    pub(crate) creation_time_ms: i64,
}

pub(crate) struct FaceRow {
    pub(crate) face_id: String,
    pub(crate) image_id: String,
    pub(crate) external_image_id: Option<String>,
    pub(crate) bounding_box: BoundingBox,
    pub(crate) confidence: f32,
    pub(crate) embedding: Vec<u8>,
}

pub(crate) struct ProcessorRow {
    pub(crate) name: String,
    pub(crate) arn: String,
    pub(crate) status: String,
    pub(crate) status_message: String,
    /// The CreateStreamProcessor request, as JSON.
    pub(crate) definition: String,
    pub(crate) creation_time_ms: i64,
    pub(crate) update_time_ms: i64,
}

pub(crate) fn find_collection(
    tx: &Transaction<'_>,
    id: &str,
) -> Result<Option<CollectionRow>, ApiError> {
    tx.query_row(
        "SELECT id, arn, creation_time_ms FROM rek_collections WHERE id = ?1",
        [id],
        |r| {
            Ok(CollectionRow {
                id: r.get(0)?,
                arn: r.get(1)?,
                creation_time_ms: r.get(2)?,
            })
        },
    )
    .optional()
    .map_err(db_err)
}

pub(crate) fn insert_collection(tx: &Transaction<'_>, c: &CollectionRow) -> Result<(), ApiError> {
    tx.execute(
        "INSERT INTO rek_collections (id, arn, creation_time_ms) VALUES (?1, ?2, ?3)",
        params![c.id, c.arn, c.creation_time_ms],
    )
    .map_err(db_err)?;
    Ok(())
}

/// Collection ids after `after`, in order, at most `limit`.
pub(crate) fn list_collections(
    tx: &Transaction<'_>,
    after: &str,
    limit: usize,
) -> Result<Vec<String>, ApiError> {
    let mut stmt = tx
        .prepare("SELECT id FROM rek_collections WHERE id > ?1 ORDER BY id LIMIT ?2")
        .map_err(db_err)?;
    let rows = stmt
        .query_map(params![after, limit as i64], |r| r.get(0))
        .map_err(db_err)?;
    rows.collect::<Result<_, _>>().map_err(db_err)
}

pub(crate) fn delete_collection(tx: &Transaction<'_>, id: &str) -> Result<(), ApiError> {
    tx.execute("DELETE FROM rek_faces WHERE collection_id = ?1", [id])
        .map_err(db_err)?;
    tx.execute("DELETE FROM rek_collections WHERE id = ?1", [id])
        .map_err(db_err)?;
    Ok(())
}

pub(crate) fn face_count(tx: &Transaction<'_>, collection: &str) -> Result<i64, ApiError> {
    tx.query_row(
        "SELECT COUNT(*) FROM rek_faces WHERE collection_id = ?1",
        [collection],
        |r| r.get(0),
    )
    .map_err(db_err)
}

pub(crate) fn insert_face(
    tx: &Transaction<'_>,
    collection: &str,
    face: &FaceRow,
    now_ms: i64,
) -> Result<(), ApiError> {
    let bbox = serde_json::to_string(&face.bounding_box).map_err(ApiError::internal)?;
    tx.execute(
        "INSERT INTO rek_faces (face_id, collection_id, image_id, external_image_id, \
         bounding_box, confidence, embedding, indexed_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            face.face_id,
            collection,
            face.image_id,
            face.external_image_id,
            bbox,
            f64::from(face.confidence),
            face.embedding,
            now_ms
        ],
    )
    .map_err(db_err)?;
    Ok(())
}

/// Faces of a collection with ids after `after`, in id order, at most `limit`.
pub(crate) fn faces(
    tx: &Transaction<'_>,
    collection: &str,
    after: &str,
    limit: usize,
) -> Result<Vec<FaceRow>, ApiError> {
    let mut stmt = tx
        .prepare(
            "SELECT face_id, image_id, external_image_id, bounding_box, confidence, embedding \
             FROM rek_faces WHERE collection_id = ?1 AND face_id > ?2 ORDER BY face_id LIMIT ?3",
        )
        .map_err(db_err)?;
    let rows = stmt
        .query_map(params![collection, after, limit as i64], |r| {
            let bbox: String = r.get(3)?;
            let confidence: f64 = r.get(4)?;
            Ok(FaceRow {
                face_id: r.get(0)?,
                image_id: r.get(1)?,
                external_image_id: r.get(2)?,
                bounding_box: serde_json::from_str(&bbox).unwrap_or_default(),
                confidence: confidence as f32,
                embedding: r.get(5)?,
            })
        })
        .map_err(db_err)?;
    rows.collect::<Result<_, _>>().map_err(db_err)
}

/// Deletes the named faces of a collection; returns the ids that existed.
pub(crate) fn delete_faces(
    tx: &Transaction<'_>,
    collection: &str,
    ids: &[String],
) -> Result<Vec<String>, ApiError> {
    let mut deleted = Vec::new();
    for id in ids {
        let n = tx
            .execute(
                "DELETE FROM rek_faces WHERE collection_id = ?1 AND face_id = ?2",
                params![collection, id],
            )
            .map_err(db_err)?;
        if n > 0 {
            deleted.push(id.clone());
        }
    }
    Ok(deleted)
}

const PROCESSOR_COLS: &str =
    "name, arn, status, status_message, definition, creation_time_ms, update_time_ms";

fn processor_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ProcessorRow> {
    Ok(ProcessorRow {
        name: r.get(0)?,
        arn: r.get(1)?,
        status: r.get(2)?,
        status_message: r.get(3)?,
        definition: r.get(4)?,
        creation_time_ms: r.get(5)?,
        update_time_ms: r.get(6)?,
    })
}

pub(crate) fn find_processor(
    tx: &Transaction<'_>,
    name: &str,
) -> Result<Option<ProcessorRow>, ApiError> {
    tx.query_row(
        &format!("SELECT {PROCESSOR_COLS} FROM rek_processors WHERE name = ?1"),
        [name],
        processor_row,
    )
    .optional()
    .map_err(db_err)
}

pub(crate) fn insert_processor(tx: &Transaction<'_>, p: &ProcessorRow) -> Result<(), ApiError> {
    tx.execute(
        &format!(
            "INSERT INTO rek_processors ({PROCESSOR_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
        ),
        params![
            p.name,
            p.arn,
            p.status,
            p.status_message,
            p.definition,
            p.creation_time_ms,
            p.update_time_ms
        ],
    )
    .map_err(db_err)?;
    Ok(())
}

pub(crate) fn set_status(
    tx: &Transaction<'_>,
    name: &str,
    status: &str,
    message: &str,
    now_ms: i64,
) -> Result<(), ApiError> {
    tx.execute(
        "UPDATE rek_processors SET status = ?2, status_message = ?3, update_time_ms = ?4 \
         WHERE name = ?1",
        params![name, status, message, now_ms],
    )
    .map_err(db_err)?;
    Ok(())
}

pub(crate) fn list_processors(
    tx: &Transaction<'_>,
    after: &str,
    limit: usize,
) -> Result<Vec<ProcessorRow>, ApiError> {
    let mut stmt = tx
        .prepare(&format!(
            "SELECT {PROCESSOR_COLS} FROM rek_processors WHERE name > ?1 ORDER BY name LIMIT ?2"
        ))
        .map_err(db_err)?;
    let rows = stmt
        .query_map(params![after, limit as i64], processor_row)
        .map_err(db_err)?;
    rows.collect::<Result<_, _>>().map_err(db_err)
}

pub(crate) fn delete_processor(tx: &Transaction<'_>, name: &str) -> Result<(), ApiError> {
    tx.execute("DELETE FROM rek_processors WHERE name = ?1", [name])
        .map_err(db_err)?;
    Ok(())
}

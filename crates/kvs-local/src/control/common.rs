//! What the resource families share: versions, tags, and the pages of ListStreams and
//! ListSignalingChannels.

use std::collections::BTreeMap;

use kvs_types::{TagKey, TagValue};
use rusqlite::Transaction;
use serde::Deserialize;

use crate::App;
use crate::db;
use crate::error::ApiError;
use crate::protocol::{PageSize, invalid_next_token};

/// A new `Version` of a stream or channel: 20 random letters and digits.
pub(super) fn new_version() -> String {
    use rand::Rng;
    use rand::distr::Alphanumeric;
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(20)
        .map(char::from)
        .collect()
}

/// Tags within KVS's limits: at most 50, each key and value valid.
pub(super) fn checked_tags(
    tags: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ApiError> {
    if tags.len() > db::MAX_TAGS {
        return Err(ApiError::too_many_tags());
    }
    for (k, v) in tags {
        TagKey::new(k.as_str())?;
        TagValue::new(v.as_str())?;
    }
    Ok(tags.clone())
}

/// One tag as signaling channels and TagResource send them.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct TagItem {
    key: String,
    value: String,
}

/// `Tags` as a list of `{Key, Value}` (signaling channels, TagResource), checked.
pub(super) fn checked_tag_list(tags: Vec<TagItem>) -> Result<BTreeMap<String, String>, ApiError> {
    checked_tags(&tags.into_iter().map(|t| (t.key, t.value)).collect())
}

/// `StreamNameCondition` / `ChannelNameCondition`: names that begin with a value.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct NameCondition {
    comparison_operator: Option<String>,
    comparison_value: Option<String>,
}

fn name_prefix(condition: Option<&NameCondition>) -> Result<String, ApiError> {
    match condition {
        None => Ok(String::new()),
        Some(c) => {
            if let Some(op) = &c.comparison_operator
                && op != "BEGINS_WITH"
            {
                return Err(ApiError::invalid_argument(format!(
                    "ComparisonOperator {op:?} is not valid; use BEGINS_WITH"
                )));
            }
            Ok(c.comparison_value.clone().unwrap_or_default())
        }
    }
}

/// A `NextToken`: the page's last name, hex-encoded after a format prefix.
fn page_token(last: &str) -> String {
    format!("kvslocal1{}", hex::encode(last))
}

fn parse_page_token(token: Option<&str>) -> Result<String, ApiError> {
    let Some(token) = token else {
        return Ok(String::new());
    };
    token
        .strip_prefix("kvslocal1")
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| invalid_next_token(token))
}

/// A database query for up to `limit` rows with names after `after` that begin with `prefix`
/// (`db::list_streams`, `db::list_channels`).
type ListQuery<T> =
    fn(tx: &Transaction<'_>, after: &str, prefix: &str, limit: usize) -> Result<Vec<T>, ApiError>;

/// A page of ListStreams or ListSignalingChannels: the names after the `NextToken`'s that begin
/// with the name condition's prefix.
pub(super) struct NamePage {
    limit: usize,
    after: String,
    prefix: String,
}

impl NamePage {
    pub(super) fn new(
        max_results: Option<i64>,
        next_token: Option<&str>,
        condition: Option<&NameCondition>,
    ) -> Result<Self, ApiError> {
        Ok(Self {
            limit: PageSize::max_results(10_000).of(max_results)?,
            after: parse_page_token(next_token)?,
            prefix: name_prefix(condition)?,
        })
    }

    /// The page's rows (`query` is asked for one more than fit, to know whether more follow)
    /// and the `NextToken` of the next page, if any.
    pub(super) async fn fetch<T: Send + 'static>(
        self,
        app: &App,
        query: ListQuery<T>,
        name: fn(&T) -> &str,
    ) -> Result<(Vec<T>, Option<String>), ApiError> {
        let Self {
            limit,
            after,
            prefix,
        } = self;
        let mut rows = app
            .db
            .tx(move |tx| query(tx, &after, &prefix, limit + 1))
            .await?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = rows
            .last()
            .filter(|_| more)
            .map(|last| page_token(name(last)));
        Ok((rows, next))
    }
}

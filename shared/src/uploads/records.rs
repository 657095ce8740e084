//! One DynamoDB item per file in `HUB_TABLE`:
//!
//! | attribute | value |
//! | --- | --- |
//! | `pk` / `sk` | `FILE#{id}` / `FILE` |
//! | `gsi1pk` / `gsi1sk` | `FILEOWNER#{owner}` / `{created_at}#{id}` (an owner's files, newest last) |
//! | `expires_at` | only while `pending`: a presigned upload never completed disappears by TTL |
//! | the rest | [`FileRecord`] |

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, ReturnValue, WriteRequest};
use serde::{Deserialize, Serialize};

use super::StorageBackend;
use super::error::UploadError;
use super::validate::UploadKind;
use crate::retry::RetryPolicy;
use crate::store::{StoreError, n, s};

type Result<T, E = UploadError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    /// Validated and stored.
    Uploaded,
    /// Presigned; waits for the client's upload and the completion call.
    Pending,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FileRecord {
    pub id: String,
    /// The user the file belongs to (the caller who uploaded it).
    pub owner: String,
    pub kind: UploadKind,
    /// Sanitised name, with the extension of the detected type.
    pub filename: String,
    /// Bytes; for a pending upload, the size the client declared.
    pub size: u64,
    /// Detected from the content; for a pending upload, the type the client declared.
    pub content_type: String,
    /// Hex SHA-256 of the content, once uploaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    pub status: FileStatus,
    pub storage: StorageBackend,
    pub storage_key: String,
    /// RFC 3339.
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploaded_at: Option<String>,
}

/// What the completion step learned about a presigned upload's object.
#[derive(Debug, Clone)]
pub struct CompletedUpload {
    pub size: u64,
    pub content_type: String,
    pub filename: String,
    pub sha256: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub uploaded_at: String,
}

/// How often, and after what waits, items DynamoDB left unprocessed are written again.
const UNPROCESSED_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 5,
    base_delay: std::time::Duration::from_millis(100),
    max_delay: std::time::Duration::from_secs(1),
};

/// File records in the hub table.
#[derive(Debug, Clone)]
pub struct FileStore {
    dynamo: aws_sdk_dynamodb::Client,
    table: String,
}

pub fn file_pk(id: &str) -> String {
    format!("FILE#{id}")
}

const FILE_SK: &str = "FILE";

impl FileStore {
    pub fn new(dynamo: aws_sdk_dynamodb::Client, table: String) -> Self {
        Self { dynamo, table }
    }

    fn item(
        record: &FileRecord,
        expires_at: Option<i64>,
    ) -> Result<HashMap<String, AttributeValue>> {
        let mut item: HashMap<String, AttributeValue> = serde_dynamo::to_item(record)?;
        item.insert("pk".into(), s(file_pk(&record.id)));
        item.insert("sk".into(), s(FILE_SK));
        item.insert("gsi1pk".into(), s(format!("FILEOWNER#{}", record.owner)));
        item.insert(
            "gsi1sk".into(),
            s(format!("{}#{}", record.created_at, record.id)),
        );
        if let Some(t) = expires_at {
            item.insert("expires_at".into(), n(t));
        }
        Ok(item)
    }

    /// One new record; ids are fresh UUIDs, the condition only guards against a bug reusing one.
    pub async fn insert(&self, record: &FileRecord, expires_at: Option<i64>) -> Result<()> {
        self.dynamo
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::item(record, expires_at)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("PutItem", e))?;
        Ok(())
    }

    /// Several records in one `BatchWriteItem` (a bulk upload holds at most 25), retrying
    /// whatever DynamoDB leaves unprocessed.
    pub async fn insert_many(&self, records: &[FileRecord]) -> Result<()> {
        for chunk in records.chunks(25) {
            let requests = chunk
                .iter()
                .map(|r| {
                    let put = PutRequest::builder()
                        .set_item(Some(Self::item(r, None)?))
                        .build()
                        .map_err(|e| UploadError::Internal(e.to_string()))?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<Result<Vec<_>>>()?;
            let left =
                crate::store::batch_write(&self.dynamo, &self.table, requests, &UNPROCESSED_RETRY)
                    .await?;
            if left > 0 {
                return Err(UploadError::Internal(format!(
                    "{left} file records left unprocessed"
                )));
            }
        }
        Ok(())
    }

    pub async fn get(&self, id: &str) -> Result<Option<FileRecord>> {
        let out = self
            .dynamo
            .get_item()
            .table_name(&self.table)
            .key("pk", s(file_pk(id)))
            .key("sk", s(FILE_SK))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("GetItem", e))?;
        Ok(match out.item {
            Some(item) => Some(serde_dynamo::from_item(item)?),
            None => None,
        })
    }

    /// Pending -> uploaded, in one conditional update: two completions racing cannot both
    /// win, and the TTL that would have removed an abandoned upload is dropped. `None` when
    /// the record was no longer pending.
    pub async fn mark_uploaded(
        &self,
        id: &str,
        done: &CompletedUpload,
    ) -> Result<Option<FileRecord>> {
        let mut update = self
            .dynamo
            .update_item()
            .table_name(&self.table)
            .key("pk", s(file_pk(id)))
            .key("sk", s(FILE_SK))
            .condition_expression("#status = :pending")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#size", "size")
            .expression_attribute_values(":pending", s("pending"))
            .expression_attribute_values(":uploaded", s("uploaded"))
            .expression_attribute_values(":size", n(done.size))
            .expression_attribute_values(":ct", s(done.content_type.clone()))
            .expression_attribute_values(":name", s(done.filename.clone()))
            .expression_attribute_values(":sha", s(done.sha256.clone()))
            .expression_attribute_values(":at", s(done.uploaded_at.clone()))
            .return_values(ReturnValue::AllNew);
        let mut set = String::from(
            "SET #status = :uploaded, #size = :size, content_type = :ct, filename = :name, sha256 = :sha, uploaded_at = :at",
        );
        if let (Some(w), Some(h)) = (done.width, done.height) {
            set.push_str(", #width = :w, #height = :h");
            update = update
                .expression_attribute_names("#width", "width")
                .expression_attribute_names("#height", "height")
                .expression_attribute_values(":w", n(w))
                .expression_attribute_values(":h", n(h));
        }
        match update
            .update_expression(format!("{set} REMOVE expires_at"))
            .send()
            .await
        {
            Ok(out) => Ok(match out.attributes {
                Some(item) => Some(serde_dynamo::from_item(item)?),
                None => None,
            }),
            Err(e) => match StoreError::from_sdk("UpdateItem", e) {
                StoreError::ConditionFailed => Ok(None),
                other => Err(other.into()),
            },
        }
    }

    pub async fn delete(&self, id: &str) -> Result<()> {
        self.dynamo
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(file_pk(id)))
            .key("sk", s(FILE_SK))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("DeleteItem", e))?;
        Ok(())
    }

    /// An owner's files, newest first (index `gsi1`), `limit` at a time. The cursor holds the
    /// last item's `gsi1sk` (`{created_at}#{id}`): the next page starts below it.
    pub async fn list_by_owner(
        &self,
        owner: &str,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<(Vec<FileRecord>, Option<String>)> {
        let before = cursor.map(crate::cursor::decode::<String>).transpose()?;
        let mut query = self
            .dynamo
            .query()
            .table_name(&self.table)
            .index_name("gsi1")
            .scan_index_forward(false)
            .expression_attribute_values(":pk", s(format!("FILEOWNER#{owner}")))
            .limit(limit);
        query = match before {
            Some(before) => query
                .key_condition_expression("gsi1pk = :pk AND gsi1sk < :before")
                .expression_attribute_values(":before", s(before)),
            None => query.key_condition_expression("gsi1pk = :pk"),
        };
        let out = query
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("Query", e))?;
        let next = out
            .last_evaluated_key
            .and_then(|k| k.get("gsi1sk").and_then(|v| v.as_s().ok()).cloned())
            .map(|sk| crate::cursor::encode(&sk));
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(serde_dynamo::from_item)
            .collect::<Result<Vec<FileRecord>, _>>()?;
        Ok((items, next))
    }
}

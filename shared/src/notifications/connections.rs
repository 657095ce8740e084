//! WebSocket connections of each user (`WSCONN#{user}` / `{connection id}`), with a reverse
//! item (`WSCONNID#{connection id}` / `WSCONN`) so `$disconnect`, which only knows the
//! connection id, finds the user. Both items carry a TTL of two hours, API Gateway's
//! maximum connection duration, so a connection whose `$disconnect` was lost cleans itself up.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, PutRequest, ReturnValue, WriteRequest,
};
use serde::{Deserialize, Serialize};

use super::error::NotificationError;
use crate::clock::{now_rfc3339, now_secs};
use crate::retry::RetryPolicy;
use crate::store::{StoreError, s};

const REVERSE_SK: &str = "WSCONN";

type Result<T, E = NotificationError> = std::result::Result<T, E>;

fn user_pk(user: &str) -> String {
    format!("WSCONN#{user}")
}

fn reverse_pk(connection_id: &str) -> String {
    format!("WSCONNID#{connection_id}")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    pub connection_id: String,
    pub user_id: String,
    pub connected_at: String,
    pub expires_at: i64,
}

#[derive(Clone)]
pub struct ConnectionStore {
    dynamo: aws_sdk_dynamodb::Client,
    table: String,
    ttl: Duration,
}

impl ConnectionStore {
    pub fn new(dynamo: aws_sdk_dynamodb::Client, table: impl Into<String>, ttl: Duration) -> Self {
        Self {
            dynamo,
            table: table.into(),
            ttl,
        }
    }

    /// Stores both items in one `BatchWriteItem`.
    pub async fn put(&self, user: &str, connection_id: &str) -> Result<Connection> {
        let connection = Connection {
            connection_id: connection_id.to_string(),
            user_id: user.to_string(),
            connected_at: now_rfc3339(),
            expires_at: now_secs() + self.ttl.as_secs() as i64,
        };
        let base: HashMap<String, AttributeValue> = serde_dynamo::to_item(&connection)?;
        let mut forward = base.clone();
        forward.insert("pk".into(), s(user_pk(user)));
        forward.insert("sk".into(), s(connection_id));
        let mut reverse = base;
        reverse.insert("pk".into(), s(reverse_pk(connection_id)));
        reverse.insert("sk".into(), s(REVERSE_SK));
        let writes = [forward, reverse]
            .into_iter()
            .map(|item| {
                let put = PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map_err(|e| NotificationError::Internal(e.to_string()))?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>>>()?;
        self.write_all(writes).await?;
        Ok(connection)
    }

    /// The user's live connections.
    pub async fn list(&self, user: &str) -> Result<Vec<Connection>> {
        let now = now_secs();
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .dynamo
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :p")
                .expression_attribute_values(":p", s(user_pk(user)))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| StoreError::from_sdk("Query", e))?;
            for item in page.items.unwrap_or_default() {
                let c: Connection = serde_dynamo::from_item(item)?;
                // TTL deletion lags up to days; an expired connection is gone already.
                if c.expires_at > now {
                    out.push(c);
                }
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(out)
    }

    /// `$disconnect`: removes the connection knowing only its id; returns its user.
    pub async fn remove_by_id(&self, connection_id: &str) -> Result<Option<String>> {
        let out = self
            .dynamo
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(reverse_pk(connection_id)))
            .key("sk", s(REVERSE_SK))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("DeleteItem", e))?;
        let user = out
            .attributes
            .and_then(|a| a.get("user_id").and_then(|v| v.as_s().ok()).cloned());
        if let Some(user) = &user {
            self.dynamo
                .delete_item()
                .table_name(&self.table)
                .key("pk", s(user_pk(user)))
                .key("sk", s(connection_id))
                .send()
                .await
                .map_err(|e| StoreError::from_sdk("DeleteItem", e))?;
        }
        Ok(user)
    }

    /// Removes a connection whose user is known (a 410 Gone while pushing): one batch.
    pub async fn remove(&self, user: &str, connection_id: &str) -> Result<()> {
        let keys = [
            (user_pk(user), connection_id.to_string()),
            (reverse_pk(connection_id), REVERSE_SK.to_string()),
        ];
        let writes = keys
            .into_iter()
            .map(|(pk, sk)| {
                let del = DeleteRequest::builder()
                    .key("pk", s(pk))
                    .key("sk", s(sk))
                    .build()
                    .map_err(|e| NotificationError::Internal(e.to_string()))?;
                Ok(WriteRequest::builder().delete_request(del).build())
            })
            .collect::<Result<Vec<_>>>()?;
        self.write_all(writes).await
    }

    async fn write_all(&self, writes: Vec<WriteRequest>) -> Result<()> {
        const UNPROCESSED_RETRY: RetryPolicy = RetryPolicy {
            max_attempts: 3,
            base_delay: std::time::Duration::from_millis(50),
            max_delay: std::time::Duration::from_millis(500),
        };
        match crate::store::batch_write(&self.dynamo, &self.table, writes, &UNPROCESSED_RETRY)
            .await?
        {
            0 => Ok(()),
            _ => Err(NotificationError::Throttled),
        }
    }
}

//! The bucket of large webhook bodies on S3 (`WEBHOOK_BODIES_BUCKET`), for builds with the
//! `s3` feature: the `webhooks` function and its worker.

use futures::future::BoxFuture;

use super::error::WebhookError;
use super::events::BodyBucket;

pub struct S3Bodies {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Bodies {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }
}

impl BodyBucket for S3Bodies {
    fn put<'a>(
        &'a self,
        key: &'a str,
        body: bytes::Bytes,
        content_type: &'a str,
    ) -> BoxFuture<'a, Result<(), WebhookError>> {
        Box::pin(async move {
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .body(body.into())
                .content_type(content_type)
                .send()
                .await
                .map_err(|e| {
                    WebhookError::Internal(format!("S3 PutObject for a webhook body: {e:?}"))
                })?;
            Ok(())
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Vec<u8>, WebhookError>> {
        Box::pin(async move {
            let obj = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| {
                    WebhookError::Internal(format!("S3 GetObject for a webhook body: {e:?}"))
                })?;
            Ok(obj
                .body
                .collect()
                .await
                .map_err(WebhookError::internal)?
                .into_bytes()
                .to_vec())
        })
    }
}

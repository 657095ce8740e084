//! The S3 backend, and the SigV4 POST policy that lets a client upload straight to the
//! bucket (aws-sdk-s3 presigns only requests such as PUT and GET, not browser-form POSTs).
//!
//! Why a POST policy rather than a presigned PUT: a presigned PUT can sign `Content-Type`
//! and `Content-Length` headers, but then the client must send exactly those bytes and
//! headers and a mismatch shows up as an opaque `SignatureDoesNotMatch`; the POST policy
//! states the rules themselves (`content-length-range`, the exact key, the exact
//! `Content-Type`), works from a plain HTML form, and S3 answers a violation with a
//! readable policy error. Either way the object is validated again by the completion step,
//! which is what actually protects the hub (an emulator may not enforce policies at all).
//!
//! Abandoned uploads: the policy makes the client tag the object `hub-upload=pending`
//! ([`PENDING_TAGGING`]); completion retags it `hub-upload=complete`. The bucket's lifecycle
//! rule (template.yaml) expires objects still tagged pending after two days, so a presign
//! that was never completed leaves nothing behind: its record expires by TTL, its object by
//! the lifecycle rule.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_s3::config::ProvideCredentials;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use base64::Engine;
use bytes::Bytes;
use futures::future::BoxFuture;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::OffsetDateTime;

use super::StorageBackend;
use super::api::PresignedPost;
use super::backend::{BackendResult, DownloadSpec, Fetched, Storage};
use super::error::BackendError;

/// The tag set every presigned upload must carry (a policy condition).
pub const PENDING_TAGGING: &str =
    "<Tagging><TagSet><Tag><Key>hub-upload</Key><Value>pending</Value></Tag></TagSet></Tagging>";
pub const UPLOAD_TAG_KEY: &str = "hub-upload";

#[derive(Debug, Clone)]
pub struct S3Storage {
    client: aws_sdk_s3::Client,
    sdk_config: SdkConfig,
    bucket: String,
    region: String,
    /// Where browser-form POSTs go: virtual-hosted on AWS, path-style on a local endpoint.
    post_url: String,
}

impl S3Storage {
    pub fn new(
        client: aws_sdk_s3::Client,
        sdk_config: SdkConfig,
        bucket: String,
        endpoint: Option<&str>,
    ) -> Self {
        let region = sdk_config
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "us-east-1".into());
        let post_url = match endpoint {
            Some(e) => format!("{}/{bucket}", e.trim_end_matches('/')),
            // Bucket names with dots break the wildcard TLS certificate of virtual hosts.
            None if bucket.contains('.') => format!("https://s3.{region}.amazonaws.com/{bucket}"),
            None => format!("https://{bucket}.s3.{region}.amazonaws.com"),
        };
        Self {
            client,
            sdk_config,
            bucket,
            region,
            post_url,
        }
    }

    async fn presign_post(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        ttl: Duration,
    ) -> BackendResult<PresignedPost> {
        let provider = self
            .sdk_config
            .credentials_provider()
            .ok_or_else(|| BackendError("no AWS credentials provider is configured".into()))?;
        let creds = provider
            .provide_credentials()
            .await
            .map_err(|e| BackendError(format!("loading AWS credentials: {e}")))?;
        let now = crate::clock::now_utc();
        let expires = now + ttl;
        let policy = PostPolicy {
            bucket: &self.bucket,
            key,
            content_type,
            size,
            region: &self.region,
            access_key_id: creds.access_key_id(),
            secret_access_key: creds.secret_access_key(),
            session_token: creds.session_token(),
            now,
            expires,
        };
        let fields = policy.fields();
        Ok(PresignedPost {
            url: self.post_url.clone(),
            fields,
            expires_at: crate::clock::rfc3339(expires),
        })
    }
}

/// A SigV4 POST policy (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html).
pub struct PostPolicy<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub content_type: &'a str,
    /// The exact size the client declared: `content-length-range` is `[size, size]`.
    pub size: u64,
    pub region: &'a str,
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub session_token: Option<&'a str>,
    pub now: OffsetDateTime,
    pub expires: OffsetDateTime,
}

impl PostPolicy<'_> {
    /// The form fields to send before the `file` field, `policy` and `x-amz-signature` included.
    pub fn fields(&self) -> BTreeMap<String, String> {
        let amz_date = format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            self.now.year(),
            self.now.month() as u8,
            self.now.day(),
            self.now.hour(),
            self.now.minute(),
            self.now.second()
        );
        let date = &amz_date[..8];
        let credential = format!(
            "{}/{date}/{}/s3/aws4_request",
            self.access_key_id, self.region
        );
        let expiration = {
            let e = self.expires;
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000Z",
                e.year(),
                e.month() as u8,
                e.day(),
                e.hour(),
                e.minute(),
                e.second()
            )
        };
        let mut conditions = vec![
            serde_json::json!({ "bucket": self.bucket }),
            serde_json::json!({ "key": self.key }),
            serde_json::json!({ "Content-Type": self.content_type }),
            serde_json::json!({ "tagging": PENDING_TAGGING }),
            serde_json::json!(["content-length-range", self.size, self.size]),
            serde_json::json!({ "x-amz-algorithm": "AWS4-HMAC-SHA256" }),
            serde_json::json!({ "x-amz-credential": credential }),
            serde_json::json!({ "x-amz-date": amz_date }),
        ];
        if let Some(token) = self.session_token {
            conditions.push(serde_json::json!({ "x-amz-security-token": token }));
        }
        let policy = serde_json::json!({ "expiration": expiration, "conditions": conditions });
        let policy_b64 = base64::engine::general_purpose::STANDARD.encode(policy.to_string());
        let signature = hex::encode(hmac(
            &signing_key(self.secret_access_key, date, self.region, "s3"),
            policy_b64.as_bytes(),
        ));

        let mut fields = BTreeMap::new();
        fields.insert("key".into(), self.key.to_string());
        fields.insert("Content-Type".into(), self.content_type.to_string());
        fields.insert("tagging".into(), PENDING_TAGGING.to_string());
        fields.insert("x-amz-algorithm".into(), "AWS4-HMAC-SHA256".into());
        fields.insert("x-amz-credential".into(), credential);
        fields.insert("x-amz-date".into(), amz_date.clone());
        if let Some(token) = self.session_token {
            fields.insert("x-amz-security-token".into(), token.to_string());
        }
        fields.insert("policy".into(), policy_b64);
        fields.insert("x-amz-signature".into(), signature);
        fields
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// SigV4 signing key: HMAC chain over date, region, service and `aws4_request`.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

fn backend_err<E: std::fmt::Debug>(what: &str) -> impl FnOnce(E) -> BackendError + '_ {
    move |e| BackendError(format!("S3 {what}: {e:?}"))
}

impl Storage for S3Storage {
    fn backend(&self) -> StorageBackend {
        StorageBackend::S3
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        body: Bytes,
        content_type: &'a str,
    ) -> BoxFuture<'a, BackendResult<()>> {
        Box::pin(async move {
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_type(content_type)
                .body(ByteStream::from(body))
                .send()
                .await
                .map_err(backend_err("PutObject"))?;
            Ok(())
        })
    }

    fn fetch<'a>(
        &'a self,
        key: &'a str,
        max_bytes: u64,
    ) -> BoxFuture<'a, BackendResult<Option<Fetched>>> {
        Box::pin(async move {
            let out = match self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
            {
                Ok(out) => out,
                Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                    return Ok(None);
                }
                Err(e) => return Err(backend_err("GetObject")(e)),
            };
            let size = out.content_length().unwrap_or_default().max(0) as u64;
            if size > max_bytes {
                // Dropping the body closes the stream without downloading the rest.
                return Ok(Some(Fetched::TooLarge(size)));
            }
            let bytes = out
                .body
                .collect()
                .await
                .map_err(backend_err("GetObject body"))?
                .into_bytes();
            Ok(Some(Fetched::Bytes(bytes)))
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, BackendResult<()>> {
        Box::pin(async move {
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .map_err(backend_err("DeleteObject"))?;
            Ok(())
        })
    }

    fn download_url<'a>(
        &'a self,
        key: &'a str,
        spec: &'a DownloadSpec,
        ttl: Duration,
    ) -> BoxFuture<'a, BackendResult<Option<String>>> {
        Box::pin(async move {
            let config =
                PresigningConfig::expires_in(ttl).map_err(backend_err("presigning config"))?;
            let req = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .response_content_type(&spec.content_type)
                .response_content_disposition(spec.content_disposition())
                .presigned(config)
                .await
                .map_err(backend_err("presign GetObject"))?;
            Ok(Some(req.uri().to_string()))
        })
    }

    fn presign_upload<'a>(
        &'a self,
        key: &'a str,
        content_type: &'a str,
        size: u64,
        ttl: Duration,
    ) -> BoxFuture<'a, BackendResult<Option<PresignedPost>>> {
        Box::pin(async move {
            self.presign_post(key, content_type, size, ttl)
                .await
                .map(Some)
        })
    }

    fn mark_complete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, BackendResult<()>> {
        Box::pin(async move {
            let tag = aws_sdk_s3::types::Tag::builder()
                .key(UPLOAD_TAG_KEY)
                .value("complete")
                .build()
                .map_err(backend_err("tag"))?;
            let tagging = aws_sdk_s3::types::Tagging::builder()
                .tag_set(tag)
                .build()
                .map_err(backend_err("tagging"))?;
            self.client
                .put_object_tagging()
                .bucket(&self.bucket)
                .key(key)
                .tagging(tagging)
                .send()
                .await
                .map_err(backend_err("PutObjectTagging"))?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The signing-key example of the AWS SigV4 documentation ("Examples of how to derive a
    /// signing key for Signature Version 4").
    #[test]
    fn signing_key_matches_the_documented_example() {
        let k = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(k),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn policy_states_the_conditions() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let p = PostPolicy {
            bucket: "b",
            key: "attachment/u1/2027/01/15/x-a.pdf",
            content_type: "application/pdf",
            size: 1234,
            region: "eu-west-1",
            access_key_id: "AKID",
            secret_access_key: "SECRET",
            session_token: Some("TOKEN"),
            now,
            expires: now + Duration::from_secs(300),
        };
        let f = p.fields();
        assert_eq!(
            f["x-amz-credential"],
            "AKID/20270115/eu-west-1/s3/aws4_request"
        );
        assert_eq!(f["x-amz-date"], "20270115T080000Z");
        assert_eq!(f["x-amz-security-token"], "TOKEN");
        let policy: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::STANDARD
                .decode(&f["policy"])
                .unwrap(),
        )
        .unwrap();
        assert_eq!(policy["expiration"], "2027-01-15T08:05:00.000Z");
        let conditions = policy["conditions"].as_array().unwrap();
        assert!(conditions.contains(&serde_json::json!(["content-length-range", 1234, 1234])));
        assert!(conditions.contains(&serde_json::json!({"Content-Type": "application/pdf"})));
        assert!(conditions.contains(&serde_json::json!({"tagging": PENDING_TAGGING})));
        assert_eq!(f["tagging"], PENDING_TAGGING);
        assert!(
            conditions.contains(&serde_json::json!({"key": "attachment/u1/2027/01/15/x-a.pdf"}))
        );
        let expected = hex::encode(hmac(
            &signing_key("SECRET", "20270115", "eu-west-1", "s3"),
            f["policy"].as_bytes(),
        ));
        assert_eq!(f["x-amz-signature"], expected);
    }
}

//! AWS clients, built once per instance and shared (they are cheap to clone).
//!
//! DynamoDB and Secrets Manager serve every function and are built with the context. The
//! others are built on first use, so a function builds only the clients it calls, and a
//! client no code path of a function asks for is not linked into its binary either (the
//! release build's LTO drops what is unreachable), whatever features the build unified:
//! SQS ([`AwsClients::sqs`]) always compiled, S3 ([`AwsClients::s3`]) only with `shared`'s
//! `s3` feature. The API Gateway Management client is built where it is used, from
//! [`AwsClients::sdk_config`] (feature `apigw-management`). Figures: docs/performance.md.

use std::sync::OnceLock;

use aws_config::{BehaviorVersion, Region, SdkConfig};

use crate::config::Env;

#[derive(Clone, Debug)]
pub struct AwsClients {
    pub dynamo: aws_sdk_dynamodb::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    /// Region, credentials and HTTP client every client is built from (one connection pool).
    pub sdk_config: SdkConfig,
    /// `AWS_ENDPOINT_URL` is set (the local moto server): S3 needs path-style addressing.
    #[cfg_attr(not(feature = "s3"), allow(dead_code))]
    local_endpoint: bool,
    sqs: OnceLock<aws_sdk_sqs::Client>,
    #[cfg(feature = "s3")]
    s3: OnceLock<aws_sdk_s3::Client>,
}

impl AwsClients {
    /// Loads the shared SDK configuration. `aws_config` already honours `AWS_ENDPOINT_URL`
    /// (the local moto server).
    pub async fn from_env(env: &Env) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if env.get("AWS_REGION").is_none() && env.get("AWS_DEFAULT_REGION").is_none() {
            loader = loader.region(Region::new("us-east-1"));
        }
        let sdk_config = loader.load().await;
        Self::from_sdk_config(sdk_config, env.get("AWS_ENDPOINT_URL").is_some())
    }

    pub fn from_sdk_config(sdk_config: SdkConfig, local_endpoint: bool) -> Self {
        Self {
            dynamo: aws_sdk_dynamodb::Client::new(&sdk_config),
            secrets: aws_sdk_secretsmanager::Client::new(&sdk_config),
            sdk_config,
            local_endpoint,
            sqs: OnceLock::new(),
            #[cfg(feature = "s3")]
            s3: OnceLock::new(),
        }
    }

    /// The SQS client, built on the first call.
    pub fn sqs(&self) -> &aws_sdk_sqs::Client {
        self.sqs
            .get_or_init(|| aws_sdk_sqs::Client::new(&self.sdk_config))
    }

    /// The S3 client, built on the first call; path-style addressing against a local
    /// endpoint, because `bucket.127.0.0.1` does not resolve.
    #[cfg(feature = "s3")]
    pub fn s3(&self) -> &aws_sdk_s3::Client {
        self.s3.get_or_init(|| {
            let config = aws_sdk_s3::config::Builder::from(&self.sdk_config)
                .force_path_style(self.local_endpoint)
                .build();
            aws_sdk_s3::Client::from_conf(config)
        })
    }
}

//! AWS clients, built once per cold start and shared (they are cheap to clone).

use aws_config::{BehaviorVersion, Region, SdkConfig};

use crate::config::Env;

#[derive(Clone, Debug)]
pub struct AwsClients {
    pub dynamo: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub sdk_config: SdkConfig,
}

impl AwsClients {
    /// Loads the shared SDK configuration. `aws_config` already honours `AWS_ENDPOINT_URL`
    /// (the local moto server); S3 additionally needs path-style addressing there, because
    /// `bucket.127.0.0.1` does not resolve.
    pub async fn from_env(env: &Env) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if env.get("AWS_REGION").is_none() && env.get("AWS_DEFAULT_REGION").is_none() {
            loader = loader.region(Region::new("us-east-1"));
        }
        let sdk_config = loader.load().await;
        Self::from_sdk_config(sdk_config, env.get("AWS_ENDPOINT_URL").is_some())
    }

    pub fn from_sdk_config(sdk_config: SdkConfig, local_endpoint: bool) -> Self {
        let s3_config = aws_sdk_s3::config::Builder::from(&sdk_config)
            .force_path_style(local_endpoint)
            .build();
        Self {
            dynamo: aws_sdk_dynamodb::Client::new(&sdk_config),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            sqs: aws_sdk_sqs::Client::new(&sdk_config),
            secrets: aws_sdk_secretsmanager::Client::new(&sdk_config),
            sdk_config,
        }
    }
}

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
use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};

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
    /// The shared SDK configuration, from the environment as Lambda sets it: region from
    /// `AWS_REGION` (else `AWS_DEFAULT_REGION`, else `us-east-1`), the execution role's
    /// credentials from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`
    /// (fixed for the life of an execution environment, so they are read once, not through a
    /// provider chain), and `AWS_ENDPOINT_URL` (the local moto server).
    ///
    /// Why not `aws_config::defaults(..).load()`: its credential chain (profile files, web
    /// identity through STS, ECS, IMDS) is code a Lambda never runs, about 0.3 MB of every
    /// zipped function (docs/performance.md, section 4), and it reads `~/.aws` files at cold
    /// start. Debug builds (`cargo lambda watch` against a real account) still fall back to
    /// that chain when the environment holds no keys, so a developer's profile works; a
    /// release binary without keys stops at cold start with a message saying so.
    pub async fn from_env(env: &Env) -> anyhow::Result<Self> {
        let local_endpoint = env.get("AWS_ENDPOINT_URL");
        let sdk_config = match lambda_sdk_config(env) {
            Some(config) => config,
            None => fallback_sdk_config(env).await?,
        };
        Ok(Self::from_sdk_config(sdk_config, local_endpoint.is_some()))
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

fn region(env: &Env) -> Region {
    let name = env
        .get("AWS_REGION")
        .or_else(|| env.get("AWS_DEFAULT_REGION"))
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "us-east-1".to_string());
    Region::new(name)
}

/// The configuration from the environment's static keys, or `None` when there are none.
/// Retries, timeouts, the sleep and the HTTP client are the SDK clients' own defaults (what
/// `aws_config`'s loader leaves them to as well).
fn lambda_sdk_config(env: &Env) -> Option<SdkConfig> {
    let key = env.get("AWS_ACCESS_KEY_ID").filter(|k| !k.is_empty())?;
    let secret = env.get("AWS_SECRET_ACCESS_KEY").filter(|s| !s.is_empty())?;
    let token = env.get("AWS_SESSION_TOKEN").filter(|t| !t.is_empty());
    let credentials = Credentials::new(key, secret, token, None, "environment");
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(region(env))
        .credentials_provider(SharedCredentialsProvider::new(credentials));
    if let Some(url) = env.get("AWS_ENDPOINT_URL").filter(|u| !u.is_empty()) {
        builder = builder.endpoint_url(url);
    }
    Some(builder.build())
}

/// Debug builds: `aws_config`'s default chain (profiles, SSO-less), for a developer running a
/// function against a real account with a named profile.
#[cfg(debug_assertions)]
async fn fallback_sdk_config(env: &Env) -> anyhow::Result<SdkConfig> {
    Ok(aws_config::defaults(BehaviorVersion::latest())
        .region(region(env))
        .load()
        .await)
}

/// Release builds (what Lambda runs): Lambda always sets the keys, so their absence is a
/// broken environment, reported at cold start instead of as a signing error on every call.
#[cfg(not(debug_assertions))]
async fn fallback_sdk_config(_env: &Env) -> anyhow::Result<SdkConfig> {
    anyhow::bail!(
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set: Lambda sets them from the \
         function's role; to run a release build elsewhere, export credentials \
         (`aws configure export-credentials --format env`)"
    )
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::config::ProvideCredentials;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[tokio::test]
    async fn lambda_environment_gives_region_keys_and_endpoint() {
        let config = lambda_sdk_config(&env(&[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_DEFAULT_REGION", "us-west-2"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ]))
        .expect("keys are set");
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:5000"));
        let credentials = config
            .credentials_provider()
            .expect("a credentials provider")
            .provide_credentials()
            .await
            .expect("static credentials");
        assert_eq!(credentials.access_key_id(), "AKIDEXAMPLE");
        assert_eq!(credentials.secret_access_key(), "secret");
        assert_eq!(credentials.session_token(), Some("token"));
    }

    #[test]
    fn region_falls_back_to_default_region_then_us_east_1() {
        let keys = [("AWS_ACCESS_KEY_ID", "a"), ("AWS_SECRET_ACCESS_KEY", "b")];
        let mut pairs = keys.to_vec();
        pairs.push(("AWS_DEFAULT_REGION", "sa-east-1"));
        let config = lambda_sdk_config(&env(&pairs)).unwrap();
        assert_eq!(config.region().map(|r| r.as_ref()), Some("sa-east-1"));
        let config = lambda_sdk_config(&env(&keys)).unwrap();
        assert_eq!(config.region().map(|r| r.as_ref()), Some("us-east-1"));
        assert_eq!(config.endpoint_url(), None);
    }

    #[test]
    fn without_both_keys_there_is_no_lambda_configuration() {
        assert!(lambda_sdk_config(&env(&[("AWS_ACCESS_KEY_ID", "a")])).is_none());
        assert!(lambda_sdk_config(&env(&[("AWS_SECRET_ACCESS_KEY", "b")])).is_none());
        assert!(
            lambda_sdk_config(&env(&[
                ("AWS_ACCESS_KEY_ID", ""),
                ("AWS_SECRET_ACCESS_KEY", "b")
            ]))
            .is_none()
        );
    }
}

//! Assembly of the AI capability from the cold-start state: the one place it meets
//! [`HubContext`].

use super::HubContext;
use crate::ai::AiConfig;
use crate::ai::engine::AiEngine;
use crate::ai::jobs::{JobRunner, JobStore};
use crate::ai::roster::Roster;
use crate::ai::service::AiService;
use crate::config::ConfigError;
use crate::uploads::s3::S3Storage;

impl HubContext {
    /// The AI settings (`AI_*`, `{SLUG}_MODEL`, `CLINIC_*`, ...).
    pub fn ai_config(&self) -> Result<AiConfig, ConfigError> {
        AiConfig::from_env(&self.env)
    }

    /// The AI service: providers from the catalog over the shared HTTP client, credentials,
    /// the integration log, S3 for audio and the audio uploads' POST policies.
    pub fn ai_service(&self, config: AiConfig) -> AiService {
        let audio_uploads = config.bucket.clone().map(|bucket| {
            S3Storage::new(
                self.aws.s3().clone(),
                self.aws.sdk_config.clone(),
                bucket,
                self.config.aws_endpoint_url.as_deref(),
            )
        });
        let roster = Roster::new(self.catalog.clone(), self.http().clone());
        let engine = AiEngine::new(roster, self.credentials.clone(), self.log.clone(), config);
        AiService::new(
            engine,
            self.aws.s3().clone(),
            audio_uploads,
            self.log.clone(),
        )
    }

    /// The AI job store: the hub table, S3 for big payloads, the jobs queue.
    pub fn ai_jobs(&self, config: &AiConfig) -> JobStore {
        JobStore::new(
            self.aws.dynamo.clone(),
            self.aws.s3().clone(),
            self.aws.sqs().clone(),
            self.config.hub_table.clone(),
            config,
        )
    }

    /// What the AI jobs worker runs on.
    pub fn ai_job_runner(&self) -> Result<JobRunner, ConfigError> {
        let config = self.ai_config()?;
        let store = self.ai_jobs(&config);
        Ok(JobRunner::new(self.ai_service(config), store).with_events(self.event_publisher()))
    }
}

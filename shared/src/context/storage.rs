//! Assembly of the uploads capability from the cold-start state: the backend the
//! configuration names, the file records, the limits.

use std::sync::Arc;

use super::HubContext;
use crate::config::ConfigError;
use crate::uploads::local::LocalStorage;
use crate::uploads::s3::S3Storage;
use crate::uploads::{BackendConfig, FileStore, Storage, StorageConfig, Uploads};

impl HubContext {
    /// The uploads service, configured from the environment (`STORAGE_TYPE`, `UPLOADS_BUCKET`,
    /// `UPLOAD_*`).
    pub fn uploads(&self) -> Result<Uploads, ConfigError> {
        let config = StorageConfig::from_env(&self.env)?;
        let storage: Arc<dyn Storage> = match &config.backend {
            BackendConfig::S3 { bucket } => Arc::new(S3Storage::new(
                self.aws.s3().clone(),
                self.aws.sdk_config.clone(),
                bucket.clone(),
                self.config.aws_endpoint_url.as_deref(),
            )),
            BackendConfig::Local { dir } => Arc::new(LocalStorage::new(dir.clone())),
        };
        let files = FileStore::new(self.aws.dynamo.clone(), self.config.hub_table.clone());
        Ok(Uploads::new(storage, files, config).with_events(self.event_publisher()))
    }
}

//! Blob storage behind `object_store`: a local folder by default, S3-compatible storage at scale, memory in tests.

use std::sync::Arc;

use burrow_config::{BlobConfig, Config};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::ClientConfigKey;
pub use object_store::{path::Path as BlobPath, Error as StoreError, ObjectStore, PutPayload};

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("cannot create the blob folder {path}: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid blob storage configuration: {0}")]
    Config(#[from] object_store::Error),
}

/// What a failed blob operation means for whoever asked for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No space is left where blobs are kept (a full disk or quota): nothing was kept.
    Full,
    /// The blob storage did not answer, or answered with its own fault: try again later.
    Unavailable,
    /// The blob is not there.
    NotFound,
    /// Anything else: a fault of Burrow's or of its configuration.
    Other,
}

/// Classifies a blob store error by what it means, not by where it came from.
pub fn failure(e: &StoreError) -> Failure {
    if matches!(e, StoreError::NotFound { .. }) {
        return Failure::NotFound;
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            // ENOSPC and EDQUOT.
            use std::io::ErrorKind::{QuotaExceeded, StorageFull};
            if matches!(io.kind(), StorageFull | QuotaExceeded) {
                return Failure::Full;
            }
        }
        cause = c.source();
    }
    match e {
        // A remote store's request failed: refused connections, timeouts and 5xx answers
        // after object_store's retries, and refusals of its credentials, which an
        // operator must fix; either way the caller can only try again later.
        StoreError::Generic { store, .. } if !matches!(*store, "LocalFileSystem" | "InMemory") => {
            Failure::Unavailable
        }
        StoreError::PermissionDenied { .. } | StoreError::Unauthenticated { .. } => {
            Failure::Unavailable
        }
        _ => Failure::Other,
    }
}

/// Opens the blob store the configuration names.
pub fn open(config: &Config) -> Result<Arc<dyn ObjectStore>, BlobError> {
    match &config.blobs {
        BlobConfig::Local { .. } => {
            let dir = config.local_blob_dir().expect("local blobs have a folder");
            std::fs::create_dir_all(&dir).map_err(|source| BlobError::CreateDir {
                path: dir.display().to_string(),
                source,
            })?;
            Ok(Arc::new(LocalFileSystem::new_with_prefix(&dir)?))
        }
        BlobConfig::S3 {
            bucket,
            region,
            endpoint,
            access_key_id,
            secret_access_key,
            allow_http,
            timeout_secs,
            retry_secs,
        } => {
            let retry = object_store::RetryConfig {
                max_retries: 10,
                retry_timeout: std::time::Duration::from_secs((*retry_secs).max(1)),
                ..Default::default()
            };
            let client = |key| AmazonS3ConfigKey::Client(key);
            // Set key by key: client options given whole would drop those read from the
            // environment (AWS_PROXY_URL and the like).
            let mut builder = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_allow_http(*allow_http)
                .with_config(
                    client(ClientConfigKey::Timeout),
                    format!("{}s", (*timeout_secs).max(1)),
                )
                .with_config(
                    client(ClientConfigKey::ConnectTimeout),
                    format!("{}s", (*timeout_secs).clamp(1, 5)),
                )
                .with_retry(retry);
            if let Some(region) = region {
                builder = builder.with_region(region);
            }
            if let Some(endpoint) = endpoint {
                builder = builder.with_endpoint(endpoint);
            }
            if let Some(key) = access_key_id {
                builder = builder.with_access_key_id(key.expose());
            }
            if let Some(secret) = secret_access_key {
                builder = builder.with_secret_access_key(secret.expose());
            }
            Ok(Arc::new(builder.build()?))
        }
        BlobConfig::Memory => Ok(Arc::new(InMemory::new())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_blobs_land_under_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        let store = open(&config).unwrap();
        let path = BlobPath::from("bundles/abc.zip");
        store
            .put(&path, PutPayload::from_static(b"hello"))
            .await
            .unwrap();
        let read = store.get(&path).await.unwrap().bytes().await.unwrap();
        assert_eq!(read, bytes::Bytes::from_static(b"hello"));
        assert!(dir.path().join("blobs/bundles/abc.zip").exists());
    }

    #[test]
    fn s3_configuration_builds_a_client_without_touching_the_network() {
        let config = Config {
            blobs: BlobConfig::S3 {
                bucket: "burrow".into(),
                region: Some("us-east-1".into()),
                endpoint: Some("http://127.0.0.1:9".into()),
                access_key_id: Some(burrow_config::Secret::new("key")),
                secret_access_key: Some(burrow_config::Secret::new("secret")),
                allow_http: true,
                timeout_secs: 60,
                retry_secs: 15,
            },
            ..Config::default()
        };
        let store = open(&config).unwrap();
        assert!(store.to_string().contains("burrow"), "{store}");
    }
}

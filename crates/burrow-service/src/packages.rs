//! The package allowlist: which PyPI packages, up to which versions, bundles may install.

use burrow_bundle::Allowlist;
use burrow_store::Store;

use crate::error::Error;

/// The allowlist as the bundle validator needs it.
pub async fn load_allowlist(store: &Store) -> Result<Allowlist, Error> {
    let packages = store.list_packages().await?;
    Allowlist::new(
        packages
            .iter()
            .map(|p| (p.name.as_str(), p.max_version.as_deref())),
    )
    .map_err(|e| Error::internal(format!("invalid allowlist entry in the database: {e}")))
}

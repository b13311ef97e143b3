//! The package allowlist: anyone signed in may read it; admins change it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use burrow_bundle::requirements::parse_entry;
use burrow_store::{Package, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::dto::timestamp;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Admin, ApiJson, ApiPath, Session};
use crate::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct PackageDto {
    /// Normalised per PEP 503.
    pub name: String,
    /// Inclusive upper bound on the version bundles may install.
    #[schema(required = true)]
    pub max_version: Option<String>,
    #[schema(required = true)]
    pub added_by: Option<String>,
    pub added_at: String,
}

impl From<Package> for PackageDto {
    fn from(p: Package) -> Self {
        Self {
            name: p.name,
            max_version: p.max_version,
            added_by: p.added_by,
            added_at: timestamp(p.added_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AddPackageRequest {
    /// A distribution name as PEP 508 spells it.
    #[schema(
        example = "tabulate",
        pattern = r"^([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])$"
    )]
    pub name: String,
    /// Optional inclusive upper bound, such as `0.9` (a PEP 440 version).
    #[serde(default)]
    #[schema(pattern = r"^[0-9]+(\.[0-9]+)*$")]
    pub max_version: Option<String>,
}

/// `NAME` or `NAME<=MAX`, normalised; a 400 that says what is wrong otherwise.
fn parse_package(raw: &str) -> Result<(String, Option<String>), ApiError> {
    parse_entry(raw).map_err(|message| ApiError::bad_request("invalid_package", message))
}

/// The packages bundles may install.
#[utoipa::path(get, path = "/api/v1/packages", tag = "packages",
    responses(
        (status = 200, description = "The allowlist, by name", body = [PackageDto]),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
pub async fn list_packages(
    State(state): State<AppState>,
    _session: Session,
) -> Result<Json<Vec<PackageDto>>, ApiError> {
    Ok(Json(
        state
            .store
            .list_packages()
            .await?
            .into_iter()
            .map(PackageDto::from)
            .collect(),
    ))
}

/// Add a package to the allowlist, or change its cap (admins only).
#[utoipa::path(post, path = "/api/v1/packages", tag = "packages",
    request_body = AddPackageRequest,
    responses(
        (status = 201, description = "Added or updated", body = PackageDto),
        (status = 400, description = "Invalid name or version", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ))]
pub async fn add_package(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiJson(req): ApiJson<AddPackageRequest>,
) -> Result<(StatusCode, Json<PackageDto>), ApiError> {
    if req.name.contains("<=") {
        return Err(ApiError::bad_request(
            "invalid_package",
            format!(
                "{:?} is not a package name: give the cap as max_version",
                req.name
            ),
        ));
    }
    let raw = match &req.max_version {
        Some(max) => format!("{}<={}", req.name, max.trim()),
        None => req.name.clone(),
    };
    let (name, max_version) = parse_package(&raw)?;
    let mut added = state
        .store
        .add_packages(&[(name, max_version)], Some(&admin.id))
        .await?;
    let package = added
        .pop()
        .ok_or_else(|| ApiError::internal("the store added nothing"))?;
    tracing::info!(package = %package.name, admin.id = %admin.id, "Allowed package");
    Ok((StatusCode::CREATED, Json(package.into())))
}

/// Remove a package from the allowlist (admins only).
#[utoipa::path(delete, path = "/api/v1/packages/{name}", tag = "packages",
    params(("name" = String, Path, description = "Package name", pattern = r"^([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])$")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "Not on the allowlist", body = ErrorBody),
    ))]
pub async fn remove_package(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let (name, _) = parse_package(&name)?;
    state
        .store
        .remove_packages(std::slice::from_ref(&name))
        .await
        .map_err(|(e, missing)| match (e, missing) {
            (StoreError::NotFound, Some(n)) => {
                ApiError::not_found("package_not_found", format!("{n} is not on the allowlist"))
            }
            (e, _) => e.into(),
        })?;
    tracing::info!(package = %name, admin.id = %admin.id, "Removed package");
    Ok(StatusCode::NO_CONTENT)
}

//! The API's request and response bodies: the one place where wire types live.

use burrow_store::{Member, Project, ProjectMembership, User};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use utoipa::ToSchema;

/// Formats stored milliseconds since the epoch as RFC 3339 UTC.
pub fn timestamp(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// A role in a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = Role)]
pub enum RoleDto {
    Owner,
    Editor,
    Viewer,
}

impl From<burrow_core::Role> for RoleDto {
    fn from(role: burrow_core::Role) -> Self {
        match role {
            burrow_core::Role::Owner => RoleDto::Owner,
            burrow_core::Role::Editor => RoleDto::Editor,
            burrow_core::Role::Viewer => RoleDto::Viewer,
        }
    }
}

impl From<RoleDto> for burrow_core::Role {
    fn from(role: RoleDto) -> Self {
        match role {
            RoleDto::Owner => burrow_core::Role::Owner,
            RoleDto::Editor => burrow_core::Role::Editor,
            RoleDto::Viewer => burrow_core::Role::Viewer,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserDto {
    pub id: String,
    pub email: String,
    pub name: String,
    /// Instance admins manage users and the package allowlist.
    pub is_admin: bool,
    pub created_at: String,
}

impl From<User> for UserDto {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            email: u.email,
            name: u.name,
            is_admin: u.is_admin,
            created_at: timestamp(u.created_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    #[schema(example = "ada@example.com")]
    pub email: String,
    /// At least 8 characters, and not a common password.
    pub password: String,
    #[schema(example = "Ada Lovelace")]
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateUserRequest {
    pub email: String,
    pub password: String,
    pub name: String,
    /// Make the new user an instance admin.
    #[serde(default)]
    pub is_admin: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// A new session. Browsers also get it as an HttpOnly cookie.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionDto {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    pub expires_at: String,
    pub user: UserDto,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectDto {
    pub id: String,
    pub name: String,
    /// The caller's role in this project.
    pub role: RoleDto,
    pub created_at: String,
    pub updated_at: String,
}

impl ProjectDto {
    pub fn new(project: Project, role: burrow_core::Role) -> Self {
        Self {
            id: project.id,
            name: project.name,
            role: role.into(),
            created_at: timestamp(project.created_at),
            updated_at: timestamp(project.updated_at),
        }
    }
}

impl From<ProjectMembership> for ProjectDto {
    fn from(m: ProjectMembership) -> Self {
        Self::new(m.project, m.role)
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateProjectRequest {
    #[schema(example = "Sales analytics")]
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateProjectRequest {
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberDto {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub role: RoleDto,
    pub added_at: String,
}

impl From<Member> for MemberDto {
    fn from(m: Member) -> Self {
        Self {
            user_id: m.user_id,
            email: m.email,
            name: m.name,
            role: m.role.into(),
            added_at: timestamp(m.added_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AddMemberRequest {
    /// The email of an existing user.
    pub email: String,
    pub role: RoleDto,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateMemberRequest {
    pub role: RoleDto,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthDto {
    /// `ok`, or what is wrong.
    pub status: String,
}

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
    Reviewer,
    Editor,
    Viewer,
}

impl From<burrow_core::Role> for RoleDto {
    fn from(role: burrow_core::Role) -> Self {
        match role {
            burrow_core::Role::Owner => RoleDto::Owner,
            burrow_core::Role::Reviewer => RoleDto::Reviewer,
            burrow_core::Role::Editor => RoleDto::Editor,
            burrow_core::Role::Viewer => RoleDto::Viewer,
        }
    }
}

impl From<RoleDto> for burrow_core::Role {
    fn from(role: RoleDto) -> Self {
        match role {
            RoleDto::Owner => burrow_core::Role::Owner,
            RoleDto::Reviewer => burrow_core::Role::Reviewer,
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
    #[schema(
        pattern = r"^[^\s@\x00-\x1f\x7f-\x9f]+@[^\s@.\x00-\x1f\x7f-\x9f]+(\.[^\s@.\x00-\x1f\x7f-\x9f]+)+$",
        max_length = 254
    )]
    pub email: String,
    /// At least 8 characters, not only spaces, not a common password, not the email.
    #[schema(min_length = 8, max_length = 256, pattern = r"\S")]
    pub password: String,
    #[schema(example = "Ada Lovelace")]
    #[schema(
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
        max_length = 100
    )]
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateUserRequest {
    #[schema(
        pattern = r"^[^\s@\x00-\x1f\x7f-\x9f]+@[^\s@.\x00-\x1f\x7f-\x9f]+(\.[^\s@.\x00-\x1f\x7f-\x9f]+)+$",
        max_length = 254
    )]
    pub email: String,
    /// At least 8 characters, not only spaces, not a common password, not the email.
    #[schema(min_length = 8, max_length = 256, pattern = r"\S")]
    pub password: String,
    #[schema(
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
        max_length = 100
    )]
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
            id: project.id.into(),
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
    #[schema(
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
        max_length = 100
    )]
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateProjectRequest {
    #[schema(
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
        max_length = 100
    )]
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
    #[schema(
        pattern = r"^[^\s@\x00-\x1f\x7f-\x9f]+@[^\s@.\x00-\x1f\x7f-\x9f]+(\.[^\s@.\x00-\x1f\x7f-\x9f]+)+$",
        max_length = 254
    )]
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

pub use burrow_service::Finding as FindingDto;

/// Where an app's runtime is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AppStatusDto {
    Stopped,
    Starting,
    Running,
    Stopping,
    Error,
}

impl From<burrow_store::AppStatus> for AppStatusDto {
    fn from(status: burrow_store::AppStatus) -> Self {
        use burrow_store::AppStatus;
        match status {
            AppStatus::Stopped => Self::Stopped,
            AppStatus::Starting => Self::Starting,
            AppStatus::Running => Self::Running,
            AppStatus::Stopping => Self::Stopping,
            AppStatus::Error => Self::Error,
        }
    }
}

/// Who did something.
#[derive(Debug, Serialize, ToSchema)]
pub struct PersonDto {
    pub id: String,
    pub name: String,
}

fn person(id: Option<String>, name: Option<String>) -> Option<PersonDto> {
    Some(PersonDto {
        id: id?,
        name: name.unwrap_or_default(),
    })
}

/// An app, as its card shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppDto {
    /// The short id, as in the viewer URL.
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub status: AppStatusDto,
    /// The version that runs; null until a version's build has succeeded.
    #[schema(required = true)]
    pub active_version: Option<i64>,
    /// The version the app's sandbox runs now, while it runs; it follows `active_version`.
    #[schema(required = true)]
    pub running_version: Option<i64>,
    /// CPU limit in cores.
    pub cpus: f64,
    pub memory_mb: i64,
    /// The app stops after this long without viewers.
    pub idle_timeout_secs: i64,
    /// What the app's sandbox may reach through the egress proxy, as its editors chose.
    pub network: NetworkDto,
    /// What the proxy enforces instead, when the instance's `egress.max_policy` (lowered
    /// after the choice) allows less; absent when the choice holds as it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_enforced: Option<NetworkDto>,
    pub restart_count: i64,
    #[schema(required = true)]
    pub last_error: Option<String>,
    /// The app's own origin, where members open it.
    pub url: String,
    #[schema(required = true)]
    pub created_by: Option<PersonDto>,
    pub created_at: String,
    pub updated_at: String,
}

impl AppDto {
    pub fn new(app: burrow_store::App, apps_url: &burrow_config::AppsUrl) -> Self {
        let url = apps_url.origin(&app.id).to_string();
        let network = NetworkDto::from(&burrow_apps::egress_policy(&app));
        Self {
            url,
            status: app.status.into(),
            id: app.id.into(),
            project_id: app.project_id.into(),
            name: app.name,
            description: app.description,
            active_version: app.active_version,
            running_version: None,
            cpus: app.cpu_millis as f64 / 1000.0,
            memory_mb: app.memory_bytes >> 20,
            idle_timeout_secs: app.idle_timeout_secs,
            network,
            network_enforced: None,
            restart_count: app.restart_count,
            last_error: app.last_error,
            created_by: person(app.created_by, app.creator_name),
            created_at: timestamp(app.created_at),
            updated_at: timestamp(app.updated_at),
        }
    }
}

/// What an app's sandbox may reach: `none` (nothing), `allowlist` (the domains listed,
/// where they resolve to public addresses) or `public` (the internet, never private,
/// local, reserved or metadata addresses). Requests go through the proxy Burrow serves
/// in the sandbox on 127.0.0.1:3128; `HTTP_PROXY` and `HTTPS_PROXY` point there.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkDto {
    #[schema(value_type = PolicyName, example = "allowlist")]
    pub policy: burrow_egress::Mode,
    /// For an allowlist: `api.example.com`, or `*.example.org` for any name under it.
    #[serde(default)]
    pub domains: Vec<String>,
}

/// How far an app's network reaches: `none`, `allowlist` (only `domains`) or `public`.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // documents `burrow_egress::Mode` on the wire
pub enum PolicyName {
    None,
    Allowlist,
    Public,
}

impl From<&burrow_egress::Policy> for NetworkDto {
    fn from(policy: &burrow_egress::Policy) -> Self {
        Self {
            policy: policy.mode,
            domains: policy.domains.iter().map(ToString::to_string).collect(),
        }
    }
}

/// What became of one request an app's sandbox made through the egress proxy.
#[derive(Debug, Serialize, ToSchema)]
pub struct EgressDecisionDto {
    pub at: String,
    /// `CONNECT` for HTTPS, or the plain-HTTP method.
    pub method: String,
    /// The host the request named.
    pub host: String,
    pub port: u16,
    /// The address it resolved to and that was checked.
    #[schema(required = true)]
    pub address: Option<String>,
    /// `allowed`, `denied` (the policy), `limited` (a limit) or `failed` (unreachable).
    pub verdict: String,
    /// Why, such as "cloud metadata endpoint" or "closed".
    pub reason: String,
    /// Bytes from the sandbox out, and back in.
    pub bytes_out: u64,
    pub bytes_in: u64,
    pub duration_ms: u64,
}

impl From<burrow_egress::Decision> for EgressDecisionDto {
    fn from(d: burrow_egress::Decision) -> Self {
        let verdict = match d.verdict {
            burrow_egress::Verdict::Allowed => "allowed",
            burrow_egress::Verdict::Denied => "denied",
            burrow_egress::Verdict::Limited => "limited",
            burrow_egress::Verdict::Failed => "failed",
        };
        Self {
            at: timestamp(d.at_ms),
            method: d.method,
            host: d.host,
            port: d.port,
            address: d.address,
            verdict: verdict.to_owned(),
            reason: d.reason,
            bytes_out: d.bytes_out,
            bytes_in: d.bytes_in,
            duration_ms: d.duration_ms,
        }
    }
}

/// Where a build is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BuildStatusDto {
    Queued,
    Running,
    Succeeded,
    Failed,
}

/// The build of a version's Python environment.
#[derive(Debug, Serialize, ToSchema)]
pub struct BuildDto {
    pub id: String,
    pub status: BuildStatusDto,
    /// Why it failed, naming the package.
    #[schema(required = true)]
    pub error: Option<String>,
    /// The environment it produced.
    #[schema(required = true)]
    pub environment: Option<String>,
    pub created_at: String,
    #[schema(required = true)]
    pub started_at: Option<String>,
    #[schema(required = true)]
    pub finished_at: Option<String>,
}

impl From<burrow_store::Build> for BuildDto {
    fn from(b: burrow_store::Build) -> Self {
        use burrow_store::BuildStatus as S;
        Self {
            status: match b.status {
                S::Queued => BuildStatusDto::Queued,
                S::Running => BuildStatusDto::Running,
                S::Succeeded => BuildStatusDto::Succeeded,
                S::Failed => BuildStatusDto::Failed,
            },
            id: b.id,
            error: b.error,
            environment: b.environment,
            created_at: timestamp(b.created_at),
            started_at: b.started_at.map(timestamp),
            finished_at: b.finished_at.map(timestamp),
        }
    }
}

/// One uploaded version of an app.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionDto {
    pub number: i64,
    /// The sha256 of the canonical bundle.
    pub sha256: String,
    /// The normalised requirements, one per line.
    pub packages: Vec<String>,
    /// Whether the requirements were inferred from imports.
    pub inferred: bool,
    pub warnings: Vec<FindingDto>,
    /// This version is the one that runs.
    pub active: bool,
    pub build: BuildDto,
    #[schema(required = true)]
    pub created_by: Option<PersonDto>,
    pub created_at: String,
}

impl VersionDto {
    pub fn new(v: burrow_store::AppVersion, active_version: Option<i64>) -> Self {
        Self {
            active: active_version == Some(v.number),
            number: v.number,
            sha256: v.sha256,
            packages: v.requirements.lines().map(str::to_owned).collect(),
            inferred: v.inferred,
            warnings: serde_json::from_str(&v.warnings_json).unwrap_or_default(),
            build: v.build.into(),
            created_by: person(v.created_by, v.creator_name),
            created_at: timestamp(v.created_at),
        }
    }
}

/// An app with its versions, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppDetailDto {
    #[serde(flatten)]
    pub app: AppDto,
    pub versions: Vec<VersionDto>,
}

/// A new app or version from pasted code or a template, as JSON.
/// (Uploads of a `.py` or `.zip` use `multipart/form-data` with `file`, `name`, `description`.)
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAppRequest {
    /// Required for a new app; ignored for a new version.
    #[serde(default)]
    #[schema(
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
        max_length = 100
    )]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(pattern = r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*$", max_length = 2000)]
    pub description: Option<String>,
    /// The whole `app.py`.
    #[serde(default)]
    pub code: Option<String>,
    /// A template's id, such as `csv-explorer`.
    #[serde(default)]
    pub template: Option<String>,
}

/// Changes to an app's settings; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAppRequest {
    #[schema(
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
        max_length = 100
    )]
    pub name: Option<String>,
    #[schema(pattern = r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*$", max_length = 2000)]
    pub description: Option<String>,
    /// CPU limit in cores, 0.1 to 8.
    #[schema(minimum = 0.1, maximum = 8)]
    pub cpus: Option<f64>,
    /// Memory limit, 128 to 16384 MiB.
    #[schema(minimum = 128, maximum = 16384)]
    pub memory_mb: Option<i64>,
    /// Stop after this long without viewers: 10 to 86400 seconds.
    #[schema(minimum = 10, maximum = 86400)]
    pub idle_timeout_secs: Option<i64>,
    /// What the app may reach; at most what the instance allows (`egress.max_policy`).
    pub network: Option<NetworkDto>,
}

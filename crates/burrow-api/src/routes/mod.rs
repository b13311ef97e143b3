//! The API's handlers, one file per resource.

pub mod apps;
pub mod auth;
pub mod health;
pub mod jobs;
pub mod members;
pub mod notifications;
pub mod packages;
pub mod projects;
pub mod sources;
pub mod tables;
pub mod users;
pub mod workspaces;

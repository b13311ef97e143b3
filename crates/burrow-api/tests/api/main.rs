//! Integration tests: real servers on port 0, each over a fresh SQLite file or PostgreSQL database.

mod helpers;

mod apps;
mod auth;
mod egress;
mod http;
mod jobs;
mod members;
mod packages;
mod projects;
mod review;
mod sources;
mod storage;
mod tables;
mod workspaces;

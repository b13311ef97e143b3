//! Apps end to end: a real `burrow serve`, real runc, real uv and real Streamlit, reached through the apps origin.

// These tests start the real binary; elsewhere processes are started only by the sandbox layer.
#![allow(clippy::disallowed_methods)]

mod client;
mod data;
mod harness;
mod jobs;
mod lifecycle;
mod pool;
mod readme;
mod replicas;
mod secrets;
mod viewing;
mod web;
mod workspaces;

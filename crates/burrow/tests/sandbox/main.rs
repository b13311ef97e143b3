//! Sandbox tests against real runc: hostile Python in real sandboxes must stay contained.

// These tests start the real binary; elsewhere processes are started only by the sandbox layer.
#![allow(clippy::disallowed_methods)]

mod helpers;

mod cli;
mod containment;
mod egress;
mod envs;
mod index;
mod network;
mod operations;
mod volumes;

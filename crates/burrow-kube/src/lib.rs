//! Sandboxes as Kubernetes pods: the pod a sandbox spec becomes, its "restricted"
//! profile, the agent that serves host services and shared folders inside it, and
//! [`KubeRuntime`], the runtime over the Kubernetes API.

pub mod agent;
pub mod files;
pub mod pod;
pub mod restricted;
mod runtime;

pub use pod::PodOptions;
pub use runtime::{status_of, KubeOptions, KubeRuntime, STOPPED_ANNOTATION};

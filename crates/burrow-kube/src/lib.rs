//! Sandboxes as Kubernetes pods: the pod a sandbox spec becomes, its "restricted"
//! profile, the agent that serves host services inside it, and [`KubeRuntime`], the
//! runtime over the Kubernetes API.

pub mod agent;
pub mod pod;
pub mod restricted;
mod runtime;
mod shared;

pub use pod::PodOptions;
pub use runtime::{status_of, KubeOptions, KubeRuntime, STOPPED_ANNOTATION};

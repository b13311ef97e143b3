//! `update`: a running sandbox handed new labels and new memory, CPU and process limits, as a warm sandbox is when it is assigned its work.

use std::collections::BTreeMap;

use super::LocalRuntime;
use crate::oci;
use crate::shim;
use crate::spec::Limits;
use crate::{Result, SandboxError, Status};

pub(super) async fn update(
    runtime: &LocalRuntime,
    id: &str,
    labels: BTreeMap<String, String>,
    limits: &Limits,
) -> Result<()> {
    let record = runtime.record(id).await?;
    if runtime.read_status(id).await? != Status::Running {
        return Err(SandboxError::NotRunning(id.to_owned()));
    }
    let (quota, period) = oci::cpu_quota(limits.cpus);
    let memory = limits.memory_bytes.to_string();
    let args = vec![
        "update".to_owned(),
        "--memory".to_owned(),
        memory.clone(),
        // Memory and swap together: the same as memory alone means no swap, as at create.
        "--memory-swap".to_owned(),
        memory,
        "--cpu-quota".to_owned(),
        quota.to_string(),
        "--cpu-period".to_owned(),
        period.to_string(),
        "--pids-limit".to_owned(),
        limits.pids.to_string(),
        id.to_owned(),
    ];
    runtime.runtime(args).await.map_err(|why| {
        SandboxError::Host(format!(
            "the limits of sandbox {id} could not be changed: {why}"
        ))
    })?;
    let id = id.to_owned();
    let limits = limits.clone();
    runtime
        .blocking(move |local| {
            let mut record = record;
            record.spec.labels = labels;
            record.spec.limits.memory_bytes = limits.memory_bytes;
            record.spec.limits.cpus = limits.cpus;
            record.spec.limits.pids = limits.pids;
            shim::write_atomic(
                &local.dir(&id).join(shim::RECORD),
                &serde_json::to_vec_pretty(&record).expect("a record serialises"),
            )?;
            Ok(())
        })
        .await
}

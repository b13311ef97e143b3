//! A query's time limit inside its plan: every operator's output is checked against the
//! deadline, so a query that never yields to the runtime (a cross join feeding an
//! aggregate) still ends at its limit instead of running on after its caller gave up.

use std::any::Any;
use std::sync::Arc;
use std::time::Instant;

use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::StreamExt;

/// The error a plan past its deadline ends with; the engine words it for people.
pub const PAST_DEADLINE: &str = "burrow: past the query's deadline";

/// `plan` with every operator checked against `deadline`.
pub fn with_deadline(
    plan: Arc<dyn ExecutionPlan>,
    deadline: Instant,
) -> Result<Arc<dyn ExecutionPlan>> {
    let children = plan
        .children()
        .into_iter()
        .map(|child| with_deadline(Arc::clone(child), deadline))
        .collect::<Result<Vec<_>>>()?;
    let plan = if children.is_empty() {
        plan
    } else {
        plan.with_new_children(children)?
    };
    Ok(Arc::new(DeadlineExec {
        input: plan,
        deadline,
    }))
}

#[derive(Debug)]
struct DeadlineExec {
    input: Arc<dyn ExecutionPlan>,
    deadline: Instant,
}

impl DisplayAs for DeadlineExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeadlineExec")
    }
}

impl ExecutionPlan for DeadlineExec {
    fn name(&self) -> &str {
        "DeadlineExec"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn properties(&self) -> &PlanProperties {
        self.input.properties()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = children
            .pop()
            .ok_or_else(|| DataFusionError::Internal("DeadlineExec takes one child".into()))?;
        Ok(Arc::new(DeadlineExec {
            input,
            deadline: self.deadline,
        }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let stream = self.input.execute(partition, context)?;
        let deadline = self.deadline;
        let schema = stream.schema();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            schema,
            stream.map(move |batch| {
                if Instant::now() > deadline {
                    Err(DataFusionError::Execution(PAST_DEADLINE.into()))
                } else {
                    batch
                }
            }),
        )))
    }
}

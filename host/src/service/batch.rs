//! Batch triggers: up to [`MAX_BATCH`] runs in one request, each validated
//! like a single trigger (with its own idempotency key, if any), all or
//! nothing unless partial acceptance is asked for, stored in one group
//! commit.

use super::idempotency::{Claim, digest};
use super::{IdempotencyKey, NewRun, Service, ServiceError};
use crate::auth::Caller;
use crate::model::{Job, JobId, JobRun};
use crate::registry::Plugin;
use crate::store::{Created, Remembered};
use std::collections::HashMap;
use std::sync::Arc;

/// Most runs one batch may hold.
pub const MAX_BATCH: usize = 1000;

/// One run of a batch.
#[derive(Debug, Clone)]
pub struct BatchItem {
    /// The run.
    pub run: NewRun,
    /// Its idempotency key: the same request under the same key (in a
    /// batch or alone) answers the first run.
    pub key: Option<IdempotencyKey>,
}

/// What became of one item.
#[derive(Debug)]
pub enum ItemOutcome {
    /// Queued now.
    Created(Box<JobRun>),
    /// Its key was used for the same request before: the first answer.
    Replayed(Remembered),
    /// Refused.
    Refused(ServiceError),
}

impl Service {
    /// Queues the valid items' runs in one group commit. Unless `partial`,
    /// one refused item refuses the batch ([`ServiceError::BatchRefused`]
    /// listing every refused item) and nothing is queued.
    pub async fn trigger_batch(
        &self,
        caller: &Caller,
        items: Vec<BatchItem>,
        partial: bool,
    ) -> Result<Vec<ItemOutcome>, ServiceError> {
        if items.is_empty() || items.len() > MAX_BATCH {
            return Err(ServiceError::field(
                "items",
                format!("holds {} runs; a batch holds 1 to {MAX_BATCH}", items.len()),
            ));
        }
        let mut jobs: HashMap<JobId, (Job, Arc<Plugin>)> = HashMap::new();
        let mut keys_seen: HashMap<String, usize> = HashMap::new();
        let mut claims: Vec<Option<Claim>> = Vec::with_capacity(items.len());
        let mut outcomes = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let (outcome, claim) =
                self.batch_item(caller, index, item, &mut jobs, &mut keys_seen)?;
            outcomes.push(outcome);
            claims.push(claim);
        }
        let refused: Vec<usize> = outcomes
            .iter()
            .enumerate()
            .filter_map(|(i, o)| matches!(o, ItemOutcome::Refused(_)).then_some(i))
            .collect();
        if !refused.is_empty() && (!partial || refused.len() == outcomes.len()) {
            let failures = outcomes
                .into_iter()
                .enumerate()
                .filter_map(|(i, o)| match o {
                    ItemOutcome::Refused(e) => Some((i, e)),
                    _ => None,
                })
                .collect();
            return Err(ServiceError::BatchRefused { failures });
        }
        self.check_room(outcomes.iter().filter_map(created_run).count())?;
        for (outcome, claim) in outcomes.iter().zip(&claims) {
            if let (ItemOutcome::Created(run), Some(claim)) = (outcome, claim) {
                let body = serde_json::to_value(run.view()).unwrap_or_default();
                claim.remember(Created::Run(run.uuid), 201, body)?;
            }
        }
        self.admit(outcomes.iter().filter_map(created_run)).await?;
        Ok(outcomes)
    }

    /// Validates one item; its key's claim is held until the batch is stored.
    /// Storage failures end the batch.
    fn batch_item(
        &self,
        caller: &Caller,
        index: usize,
        item: &BatchItem,
        jobs: &mut HashMap<JobId, (Job, Arc<Plugin>)>,
        keys_seen: &mut HashMap<String, usize>,
    ) -> Result<(ItemOutcome, Option<Claim>), ServiceError> {
        let refused = |e: ServiceError| match e {
            ServiceError::Store(_) => Err(e),
            e => Ok((ItemOutcome::Refused(e), None)),
        };
        let mut claim = None;
        if let Some(key) = &item.key {
            if let Some(first) = keys_seen.insert(key.as_str().to_string(), index) {
                return refused(ServiceError::field(
                    "idempotency_key",
                    format!("repeats the key of item {first}"),
                ));
            }
            let request = serde_json::to_value(&item.run).unwrap_or_default();
            match self.claim(caller, key, digest("job_run", &request)) {
                Ok(Ok(c)) => claim = Some(c),
                Ok(Err(first)) => return Ok((ItemOutcome::Replayed(first), None)),
                Err(e) => return refused(e),
            }
        }
        let id = item.run.job_id;
        let run = match jobs.get(&id) {
            Some((job, plugin)) => self.run_of(caller, job, plugin, &item.run),
            None => match self.runnable_job(caller, id) {
                Ok((job, plugin)) => {
                    let run = self.run_of(caller, &job, &plugin, &item.run);
                    jobs.insert(id, (job, plugin));
                    run
                }
                Err(e) => Err(e),
            },
        };
        match run {
            Ok(run) => Ok((ItemOutcome::Created(Box::new(run)), claim)),
            Err(e) => refused(e),
        }
    }
}

/// The run an outcome queued, if it did.
fn created_run(outcome: &ItemOutcome) -> Option<&JobRun> {
    match outcome {
        ItemOutcome::Created(run) => Some(run),
        _ => None,
    }
}

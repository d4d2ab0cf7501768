//! Jobs on sled: the record by id, an index entry per tenant.

use super::{JobFilter, JobStore, Page, Record, Sled, StoreError, encode, keys};
use crate::model::{Job, JobId, TenantId};

impl JobStore for Sled {
    /// Its index entry first, then the record.
    fn put_job(&self, job: &Job) -> Result<(), StoreError> {
        let id = job.uuid.bytes();
        self.job_index
            .insert(keys::with_id(keys::tenant_jobs(&job.tenant), id), &[])?;
        self.jobs.insert(id, encode(job))?;
        Ok(())
    }

    /// A damaged job is found to be its tenant's by the index, as the
    /// record cannot say.
    fn job(&self, tenant: &TenantId, id: JobId) -> Result<Option<Job>, StoreError> {
        let Some(bytes) = self.jobs.get(id.bytes())? else {
            return Ok(None);
        };
        match self.decode::<Job>(Record::Job, &id.bytes(), &bytes) {
            Ok(job) => Ok((job.tenant == *tenant).then_some(job)),
            Err(e) => self.owned_damage(&self.job_index, keys::tenant_jobs(tenant), id.bytes(), e),
        }
    }

    fn list_jobs(
        &self,
        tenant: &TenantId,
        filter: &JobFilter,
        cursor: Option<[u8; 16]>,
        limit: usize,
    ) -> Result<Page<Job>, StoreError> {
        self.page_of_jobs(tenant, filter, cursor, limit)
    }
}

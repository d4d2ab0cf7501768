//! The kinds of events, with the names they are served and filtered by.

use serde::{Serialize, Serializer};

/// What an event says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A job was created.
    JobCreated,
    /// A job changed.
    JobUpdated,
    /// A job was (soft) deleted.
    JobDeleted,
    /// A run's status changed.
    RunStatusChanged,
    /// A running run reported progress.
    RunProgress,
    /// A job type version was published or loaded.
    JobTypePublished,
    /// A job type version's file changed and was loaded again.
    JobTypeReplaced,
    /// A job type version left the registry.
    JobTypeRemoved,
    /// A job type version was marked deprecated.
    JobTypeDeprecated,
    /// A job type version was yanked.
    JobTypeYanked,
    /// A job type version was made active again.
    JobTypeActivated,
    /// An operator approved capabilities of a job type version.
    JobTypeApproved,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [EventKind; 12] = [
        EventKind::JobCreated,
        EventKind::JobUpdated,
        EventKind::JobDeleted,
        EventKind::RunStatusChanged,
        EventKind::RunProgress,
        EventKind::JobTypePublished,
        EventKind::JobTypeReplaced,
        EventKind::JobTypeRemoved,
        EventKind::JobTypeDeprecated,
        EventKind::JobTypeYanked,
        EventKind::JobTypeActivated,
        EventKind::JobTypeApproved,
    ];

    /// The name served in the stream's `event:` field and the `type` key.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::JobCreated => "job.created",
            EventKind::JobUpdated => "job.updated",
            EventKind::JobDeleted => "job.deleted",
            EventKind::RunStatusChanged => "job_run.status_changed",
            EventKind::RunProgress => "job_run.progress",
            EventKind::JobTypePublished => "job_type.published",
            EventKind::JobTypeReplaced => "job_type.replaced",
            EventKind::JobTypeRemoved => "job_type.removed",
            EventKind::JobTypeDeprecated => "job_type.deprecated",
            EventKind::JobTypeYanked => "job_type.yanked",
            EventKind::JobTypeActivated => "job_type.activated",
            EventKind::JobTypeApproved => "job_type.approved",
        }
    }
}

impl std::str::FromStr for EventKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
                format!("unknown event type; known: {}", names.join(", "))
            })
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

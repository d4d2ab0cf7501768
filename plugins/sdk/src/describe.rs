//! [`JobType`]: the metadata a plugin reports from `describe`, built with
//! chained setters so that a plugin states only what differs from the defaults.

use crate::bindings::jobhost::plugin::types as wit;

/// What the host does with a run interrupted by a host crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupted {
    /// Start a new attempt from the last checkpoint.
    Resume,
    /// Start a new attempt from scratch: the job is idempotent.
    Restart,
    /// Fail the run.
    Fail,
}

/// Metadata of a job type.
#[derive(Debug, Clone)]
pub struct JobType {
    job_type: String,
    version: String,
    display_name: String,
    description: String,
    user_facing_description: Option<String>,
    creatable_on_ui: bool,
    creatable_by_agent: bool,
    visible_on_ui: bool,
    timeout_ms: Option<u64>,
    memory_bytes: Option<u64>,
    interrupted: Interrupted,
}

impl JobType {
    /// A job type with an id (`[a-z][a-z0-9_]*`), a semver version and a
    /// display name. It is visible and creatable on the UI and by agents, has
    /// the host's default limits, and restarts from scratch after a crash.
    pub fn new(job_type: &str, version: &str, display_name: &str) -> Self {
        JobType {
            job_type: job_type.to_string(),
            version: version.to_string(),
            display_name: display_name.to_string(),
            description: String::new(),
            user_facing_description: None,
            creatable_on_ui: true,
            creatable_by_agent: true,
            visible_on_ui: true,
            timeout_ms: None,
            memory_bytes: None,
            interrupted: Interrupted::Restart,
        }
    }

    /// Internal description, for operators and agents.
    pub fn description(mut self, text: &str) -> Self {
        self.description = text.to_string();
        self
    }

    /// Description for people; defaults to [`JobType::description`].
    pub fn user_facing_description(mut self, text: &str) -> Self {
        self.user_facing_description = Some(text.to_string());
        self
    }

    /// Whether people may create it from a UI.
    pub fn creatable_on_ui(mut self, yes: bool) -> Self {
        self.creatable_on_ui = yes;
        self
    }

    /// Whether agents may create it on their own.
    pub fn creatable_by_agent(mut self, yes: bool) -> Self {
        self.creatable_by_agent = yes;
        self
    }

    /// Whether it shows in UIs.
    pub fn visible_on_ui(mut self, yes: bool) -> Self {
        self.visible_on_ui = yes;
        self
    }

    /// Asks for a wall-clock deadline per run (the host may lower it).
    pub fn timeout_ms(mut self, ms: u64) -> Self {
        self.timeout_ms = Some(ms);
        self
    }

    /// Asks for a memory limit per run (the host may lower it).
    pub fn memory_bytes(mut self, bytes: u64) -> Self {
        self.memory_bytes = Some(bytes);
        self
    }

    /// Sets what happens to a run interrupted by a host crash.
    pub fn interrupted(mut self, policy: Interrupted) -> Self {
        self.interrupted = policy;
        self
    }

    pub(crate) fn into_wit(self, config_schema: String) -> wit::JobTypeInfo {
        let user_facing = self
            .user_facing_description
            .unwrap_or_else(|| self.description.clone());
        wit::JobTypeInfo {
            job_type: self.job_type,
            version: self.version,
            display_name: self.display_name,
            description: self.description,
            user_facing_description: user_facing,
            config_schema,
            creatable_on_ui: self.creatable_on_ui,
            creatable_by_agent: self.creatable_by_agent,
            visible_on_ui: self.visible_on_ui,
            limits: wit::Limits {
                timeout_ms: self.timeout_ms,
                memory_bytes: self.memory_bytes,
            },
            interrupted: match self.interrupted {
                Interrupted::Resume => wit::InterruptedPolicy::Resume,
                Interrupted::Restart => wit::InterruptedPolicy::Restart,
                Interrupted::Fail => wit::InterruptedPolicy::Fail,
            },
        }
    }
}

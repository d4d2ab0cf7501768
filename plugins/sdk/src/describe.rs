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

/// Hints for agents and user interfaces: what a run does to the world
/// outside it. The host shows them; it does not enforce them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SideEffects {
    /// A run changes nothing outside itself.
    pub read_only: bool,
    /// Running the same config twice has the effect of running it once.
    pub idempotent: bool,
    /// A run may delete or overwrite something outside itself.
    pub destructive: bool,
}

/// How a failed run is retried by default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 to 100).
    pub max_attempts: u32,
    /// Delay before the second attempt, in milliseconds.
    pub initial_delay_ms: u64,
    /// Factor applied to the delay after each retry (1.0 to 10.0).
    pub multiplier: f64,
    /// Ceiling of the delay, in milliseconds.
    pub max_delay_ms: u64,
}

#[derive(Debug, Clone)]
enum Http {
    None,
    Destinations(Vec<wit::HttpDestination>),
    OperatorChosen(String),
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
    http: Http,
    secrets: Vec<wit::SecretNeed>,
    side_effects: SideEffects,
    retry: Option<RetryPolicy>,
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
            http: Http::None,
            secrets: Vec::new(),
            side_effects: SideEffects::default(),
            retry: None,
        }
    }

    /// Declares an HTTP destination the job calls: `scheme://host[:port]`,
    /// where the host may be `*.` and a domain for its subdomains, with one
    /// line on why. Requests go only to declared destinations an operator
    /// approved.
    ///
    /// # Panics
    /// When `url` is not `http(s)://host[:port]`: a mistake in the plugin's
    /// own code, seen the first time it is described.
    pub fn http_destination(mut self, url: &str, reason: &str) -> Self {
        let (scheme, rest) = url
            .split_once("://")
            .unwrap_or_else(|| panic!("`{url}` is not scheme://host[:port]"));
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !p.contains(']') => (
                h,
                Some(p.parse().unwrap_or_else(|_| panic!("bad port in `{url}`"))),
            ),
            _ => (rest, None),
        };
        let destination = wit::HttpDestination {
            scheme: scheme.to_string(),
            host: host.to_string(),
            port,
            reason: reason.to_string(),
        };
        match &mut self.http {
            Http::Destinations(list) => list.push(destination),
            _ => self.http = Http::Destinations(vec![destination]),
        }
        self
    }

    /// Declares that an operator chooses where the job's requests may go (a
    /// generic job type such as `http_request`); until one does, every
    /// request is denied. `reason` says what the destinations are for.
    pub fn http_destinations_chosen_by_operator(mut self, reason: &str) -> Self {
        self.http = Http::OperatorChosen(reason.to_string());
        self
    }

    /// Declares a secret the job reads with [`crate::Context::secret`].
    pub fn secret(mut self, name: &str, description: &str) -> Self {
        self.secrets.push(wit::SecretNeed {
            name: name.to_string(),
            description: description.to_string(),
        });
        self
    }

    /// Sets the side-effect hints (all false by default).
    pub fn side_effects(mut self, hints: SideEffects) -> Self {
        self.side_effects = hints;
        self
    }

    /// Sets the default retry policy (none by default).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
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
            capabilities: wit::Capabilities {
                http: match self.http {
                    Http::None => wit::HttpNeeds::None,
                    Http::Destinations(list) => wit::HttpNeeds::Destinations(list),
                    Http::OperatorChosen(reason) => wit::HttpNeeds::OperatorChosen(reason),
                },
                secrets: self.secrets,
            },
            side_effects: wit::SideEffects {
                read_only: self.side_effects.read_only,
                idempotent: self.side_effects.idempotent,
                destructive: self.side_effects.destructive,
            },
            retry: self.retry.map(|r| wit::RetryPolicy {
                max_attempts: r.max_attempts,
                initial_delay_ms: r.initial_delay_ms,
                multiplier: r.multiplier,
                max_delay_ms: r.max_delay_ms,
            }),
        }
    }
}

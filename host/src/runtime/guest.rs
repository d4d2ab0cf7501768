//! Host-side copies of the values that cross the plugin boundary, converted
//! from the generated bindings of every contract version so nothing outside
//! the runtime sees them.

use super::bindings::{v1, v2};
use crate::model::{
    Capabilities, Destination, HttpNeeds, InterruptedPolicy, Origin, OutputData, OutputReference,
    RetryPolicy, SecretNeed, SideEffects,
};

/// What a plugin's `describe` returned, not yet validated.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginInfo {
    /// Job type id as reported.
    pub job_type: String,
    /// Version text as reported.
    pub version: String,
    /// Display name.
    pub display_name: String,
    /// Internal description.
    pub description: String,
    /// User-facing description.
    pub user_facing_description: String,
    /// Config schema text.
    pub config_schema: String,
    /// UI flag.
    pub creatable_on_ui: bool,
    /// Agent flag.
    pub creatable_by_agent: bool,
    /// UI visibility flag.
    pub visible_on_ui: bool,
    /// Requested timeout.
    pub timeout_ms: Option<u64>,
    /// Requested memory.
    pub memory_bytes: Option<u64>,
    /// Crash policy.
    pub interrupted: InterruptedPolicy,
    /// What its runs may reach once approved (nothing for contract 0.1.0).
    pub capabilities: Capabilities,
    /// Side-effect hints (all false for contract 0.1.0).
    pub side_effects: SideEffects,
    /// Default retry policy.
    pub retry: Option<RetryPolicy>,
    /// The contract version the component was built against.
    pub contract: &'static str,
}

/// Conversions shared by every contract version, whose types have the
/// same shapes under different Rust paths.
macro_rules! common_conversions {
    ($v:ident) => {
        impl From<$v::jobhost::plugin::types::InterruptedPolicy> for InterruptedPolicy {
            fn from(p: $v::jobhost::plugin::types::InterruptedPolicy) -> Self {
                use $v::jobhost::plugin::types::InterruptedPolicy as P;
                match p {
                    P::Resume => InterruptedPolicy::Resume,
                    P::Restart => InterruptedPolicy::Restart,
                    P::Fail => InterruptedPolicy::Fail,
                }
            }
        }

        impl From<$v::jobhost::plugin::types::OutputReference> for OutputReference {
            fn from(r: $v::jobhost::plugin::types::OutputReference) -> Self {
                use $v::jobhost::plugin::types::OutputData as D;
                OutputReference {
                    name: r.name,
                    media_type: r.media_type,
                    data: match r.data {
                        D::Inline(b) => OutputData::Inline(b),
                        D::Location(l) => OutputData::Location(l),
                    },
                }
            }
        }

        impl
            From<
                Result<$v::jobhost::plugin::types::RunOutput, $v::jobhost::plugin::types::RunError>,
            > for RunReturn
        {
            fn from(
                r: Result<
                    $v::jobhost::plugin::types::RunOutput,
                    $v::jobhost::plugin::types::RunError,
                >,
            ) -> Self {
                use $v::jobhost::plugin::types::RunError as E;
                RunReturn(match r {
                    Ok(o) => Ok(GuestOutput {
                        value: o.value,
                        references: o.references.into_iter().map(Into::into).collect(),
                    }),
                    Err(E::InvalidConfig(m)) => Err(GuestError::InvalidConfig(m)),
                    Err(E::Failed(m)) => Err(GuestError::Failed(m)),
                    Err(E::Cancelled) => Err(GuestError::Cancelled),
                })
            }
        }
    };
}

/// A [`PluginInfo`] from the fields every contract version's
/// `job-type-info` has, plus the given ones.
macro_rules! plugin_info {
    ($i:ident, $($rest:tt)*) => {
        PluginInfo {
            job_type: $i.job_type,
            version: $i.version,
            display_name: $i.display_name,
            description: $i.description,
            user_facing_description: $i.user_facing_description,
            config_schema: $i.config_schema,
            creatable_on_ui: $i.creatable_on_ui,
            creatable_by_agent: $i.creatable_by_agent,
            visible_on_ui: $i.visible_on_ui,
            timeout_ms: $i.limits.timeout_ms,
            memory_bytes: $i.limits.memory_bytes,
            interrupted: $i.interrupted.into(),
            $($rest)*
        }
    };
}

common_conversions!(v1);
common_conversions!(v2);

impl From<v1::jobhost::plugin::types::JobTypeInfo> for PluginInfo {
    fn from(i: v1::jobhost::plugin::types::JobTypeInfo) -> Self {
        plugin_info!(i,
            capabilities: Capabilities::default(),
            side_effects: SideEffects::default(),
            retry: None,
            contract: "0.1.0",
        )
    }
}

impl TryFrom<v2::jobhost::plugin::types::JobTypeInfo> for PluginInfo {
    type Error = String;
    fn try_from(i: v2::jobhost::plugin::types::JobTypeInfo) -> Result<Self, String> {
        use v2::jobhost::plugin::types::HttpNeeds as N;
        let http = match i.capabilities.http {
            N::None => HttpNeeds::None,
            N::OperatorChosen(reason) => HttpNeeds::OperatorChosen { reason },
            N::Destinations(list) => HttpNeeds::Destinations {
                destinations: list
                    .into_iter()
                    .enumerate()
                    .map(|(n, d)| {
                        Ok(Destination {
                            url: Origin::new(&d.scheme, &d.host, d.port)
                                .map_err(|e| format!("HTTP destination {n}: {e}"))?,
                            reason: d.reason,
                        })
                    })
                    .collect::<Result<_, String>>()?,
            },
        };
        let capabilities = Capabilities {
            http,
            secrets: i
                .capabilities
                .secrets
                .into_iter()
                .map(|s| SecretNeed {
                    name: s.name,
                    description: s.description,
                })
                .collect(),
        };
        capabilities.check()?;
        let retry = i.retry.map(|r| {
            RetryPolicy::declared(
                r.max_attempts,
                r.initial_delay_ms,
                r.multiplier,
                r.max_delay_ms,
            )
        });
        if let Some(r) = &retry {
            r.check()?;
        }
        let side_effects = SideEffects {
            read_only: i.side_effects.read_only,
            idempotent: i.side_effects.idempotent,
            destructive: i.side_effects.destructive,
        };
        Ok(plugin_info!(i,
            capabilities,
            side_effects,
            retry,
            contract: "0.2.0",
        ))
    }
}

/// What `run` returned, in host types, before the host checks it.
pub(crate) struct RunReturn(pub(crate) Result<GuestOutput, GuestError>);

/// A result as the plugin handed it over: JSON not yet parsed.
pub(crate) struct GuestOutput {
    pub(crate) value: String,
    pub(crate) references: Vec<OutputReference>,
}

/// A plugin's own reason for not succeeding.
pub(crate) enum GuestError {
    InvalidConfig(String),
    Failed(String),
    Cancelled,
}

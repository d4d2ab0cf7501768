//! `llm_complete`: a chat completion against an OpenAI-compatible API
//! (OpenAI, a gateway, or a local server an operator grants), with the API
//! key from the tenant's `openai_api_key` secret.

use jobhost_plugin::{Context, Job, JobError, JobType};
use openai_chat::{API_KEY_SECRET, Answer, Ask, Message, Role};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

/// Config of an `llm_complete` job.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = example())]
pub struct Config {
    /// Base URL of the OpenAI-compatible API; `/chat/completions` is added.
    /// Its scheme, host and port must be granted to this job type.
    #[serde(default = "default_base_url")]
    #[schemars(length(max = 2048), pattern(r"^https?://"), example = &"http://localhost:11434/v1")]
    pub base_url: String,
    /// Model name, e.g. `gpt-4o-mini`.
    #[schemars(length(min = 1, max = 200), example = &"gpt-4o-mini")]
    pub model: String,
    /// A user message, sent last (give `prompt`, `messages` or both).
    #[serde(default)]
    #[schemars(length(min = 1, max = 1_048_576), example = &"Summarise: jobhost runs job types as WebAssembly plugins.")]
    pub prompt: Option<String>,
    /// A conversation so far; `prompt`, when given, follows it.
    #[serde(default)]
    #[schemars(length(min = 1, max = 256), example = example_messages())]
    pub messages: Option<Vec<Message>>,
    /// An optional system message put first.
    #[serde(default)]
    #[schemars(length(max = 65_536), example = &"Answer in one sentence.")]
    pub system: Option<String>,
    /// Sampling temperature.
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 2.0), example = 0.2)]
    pub temperature: Option<f64>,
    /// Most tokens to generate.
    #[serde(default)]
    #[schemars(range(min = 1, max = 1_000_000), example = 256)]
    pub max_tokens: Option<u32>,
    /// Milliseconds to wait for the answer.
    #[serde(default)]
    #[schemars(range(min = 1, max = 3_600_000), example = 60_000)]
    pub timeout_ms: Option<u64>,
}

fn default_base_url() -> String {
    "https://api.openai.com/v1".into()
}

fn example() -> Value {
    serde_json::json!({
        "model": "gpt-4o-mini",
        "prompt": "Write a haiku about queues.",
        "max_tokens": 64
    })
}

fn example_messages() -> Value {
    serde_json::json!([
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Name three sorting algorithms."}
    ])
}

/// The job type.
pub struct LlmComplete;

impl Job for LlmComplete {
    type Config = Config;
    type Output = Answer;

    fn describe() -> JobType {
        let job_type = JobType::new("llm_complete", "1.0.0", "LLM completion")
            .description(
                "Sends a prompt or a conversation to an OpenAI-compatible chat completions \
                 API and returns the generated text, the model, the finish reason and token \
                 usage. The API key is the tenant's `openai_api_key` secret.",
            )
            .user_facing_description("Ask a language model and keep its answer.");
        openai_chat::declare(
            job_type,
            "the OpenAI-compatible API the operator allows (api.openai.com, a gateway, \
             a local model server)",
        )
    }

    fn run(config: Config, ctx: &mut Context) -> Result<Answer, JobError> {
        let mut messages = Vec::new();
        if let Some(system) = config.system {
            messages.push(Message {
                role: Role::System,
                content: system,
            });
        }
        if config.prompt.is_none() && config.messages.is_none() {
            return Err(JobError::invalid_config(
                "give `prompt`, `messages` or both: there is nothing to ask",
            ));
        }
        messages.extend(config.messages.unwrap_or_default());
        if let Some(prompt) = config.prompt {
            messages.push(Message {
                role: Role::User,
                content: prompt,
            });
        }
        let key = ctx.secret(API_KEY_SECRET)?;
        ctx.progress(10, "asking the model");
        let answer = openai_chat::complete(
            &Ask {
                base_url: &config.base_url,
                model: &config.model,
                messages,
                temperature: config.temperature,
                max_tokens: config.max_tokens,
                timeout_ms: config.timeout_ms,
            },
            &key,
        )?;
        ctx.info(format_args!(
            "{} tokens ({} prompt, {} completion)",
            answer.usage.total_tokens, answer.usage.prompt_tokens, answer.usage.completion_tokens
        ));
        Ok(answer)
    }
}

jobhost_plugin::export_job!(LlmComplete);

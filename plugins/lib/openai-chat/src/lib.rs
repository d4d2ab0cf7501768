//! A chat completion against an OpenAI-compatible API (`POST
//! {base_url}/chat/completions`), shared by the job types that call one.

use jobhost_plugin::http::Request;
use jobhost_plugin::{JobError, JobType, RetryPolicy, SideEffects};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Name of the secret holding the API key.
pub const API_KEY_SECRET: &str = "openai_api_key";

/// What every job type that calls a model declares: destinations chosen
/// by the operator (`what` says which), the API key secret, read-only and
/// not idempotent (a model answers differently each time), retried on
/// failure with backoff, and room for slow answers.
pub fn declare(job_type: JobType, what: &str) -> JobType {
    job_type
        .http_destinations_chosen_by_operator(what)
        .secret(API_KEY_SECRET, "API key of the OpenAI-compatible API")
        .side_effects(SideEffects {
            read_only: true,
            idempotent: false,
            destructive: false,
        })
        .retry(RetryPolicy {
            max_attempts: 3,
            initial_delay_ms: 2_000,
            multiplier: 2.0,
            max_delay_ms: 60_000,
        })
        .timeout_ms(300_000)
        .memory_bytes(128 << 20)
}

/// One message of a conversation.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// What is said.
    #[schemars(length(min = 1, max = 1_048_576))]
    pub content: String,
}

/// A speaker.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions.
    System,
    /// The person.
    User,
    /// The model.
    Assistant,
}

/// What to ask.
#[derive(Debug, Clone)]
pub struct Ask<'a> {
    /// API base, e.g. `https://api.openai.com/v1`.
    pub base_url: &'a str,
    /// Model name.
    pub model: &'a str,
    /// The conversation.
    pub messages: Vec<Message>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Most tokens to generate.
    pub max_tokens: Option<u32>,
    /// Milliseconds to wait for the answer's head.
    pub timeout_ms: Option<u64>,
}

/// Tokens a completion used.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct Usage {
    /// Prompt tokens.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Generated tokens.
    #[serde(default)]
    pub completion_tokens: u64,
    /// Both.
    #[serde(default)]
    pub total_tokens: u64,
}

/// The answer.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Answer {
    /// The generated text.
    pub text: String,
    /// The model that answered.
    pub model: String,
    /// Why generation stopped (`stop`, `length`...).
    pub finish_reason: Option<String>,
    /// Tokens used.
    pub usage: Usage,
}

/// Sends the conversation with `api_key` and returns the first choice.
pub fn complete(ask: &Ask<'_>, api_key: &str) -> Result<Answer, JobError> {
    let url = format!("{}/chat/completions", ask.base_url.trim_end_matches('/'));
    let mut body = json!({"model": ask.model, "messages": ask.messages});
    if let Some(t) = ask.temperature {
        body["temperature"] = json!(t);
    }
    if let Some(m) = ask.max_tokens {
        body["max_tokens"] = json!(m);
    }
    let mut request = Request::post(&url).bearer(api_key).json(&body);
    if let Some(ms) = ask.timeout_ms {
        request = request.timeout_ms(ms);
    }
    let response = request.send()?;
    if !response.is_success() {
        let detail: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        let message = detail
            .pointer("/error/message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| response.text().chars().take(300).collect());
        return Err(JobError::failed(format!(
            "the API answered {}: {message}",
            response.status
        )));
    }
    parse(&response.body)
}

/// Reads a chat completion response.
pub fn parse(body: &[u8]) -> Result<Answer, JobError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| JobError::failed(format!("the API's answer is not JSON: {e}")))?;
    let choice = v
        .pointer("/choices/0")
        .ok_or_else(|| JobError::failed("the API's answer has no choices"))?;
    let text = choice
        .pointer("/message/content")
        .and_then(Value::as_str)
        .ok_or_else(|| JobError::failed("the API's first choice has no message content"))?
        .to_string();
    Ok(Answer {
        text,
        model: v["model"].as_str().unwrap_or_default().to_string(),
        finish_reason: choice["finish_reason"].as_str().map(str::to_string),
        usage: serde_json::from_value(v["usage"].clone()).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_completion() {
        let a = parse(br#"{"model":"m","choices":[{"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#).unwrap();
        assert_eq!(a.text, "hi");
        assert_eq!(a.usage.total_tokens, 4);
        assert!(parse(br#"{"choices":[]}"#).is_err());
    }
}

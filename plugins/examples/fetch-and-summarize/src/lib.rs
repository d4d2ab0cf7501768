//! `fetch_and_summarize`: fetches a web page, extracts its text, and asks an
//! OpenAI-compatible model to summarise it. Both the page's host and the
//! API's must be granted by an operator.

use jobhost_plugin::http::Request;
use jobhost_plugin::{Context, Job, JobError, JobType};
use openai_chat::{API_KEY_SECRET, Ask, Message, Role, Usage};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Config of a `fetch_and_summarize` job.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = example())]
pub struct Config {
    /// The page to summarise (`http` or `https`).
    #[schemars(length(min = 8, max = 2048), pattern(r"^https?://"), example = &"https://example.com/article")]
    pub url: String,
    /// Base URL of the OpenAI-compatible API.
    #[serde(default = "default_base_url")]
    #[schemars(length(max = 2048), pattern(r"^https?://"), example = &"http://localhost:11434/v1")]
    pub base_url: String,
    /// Model name.
    #[schemars(length(min = 1, max = 200), example = &"gpt-4o-mini")]
    pub model: String,
    /// How to summarise.
    #[serde(default = "default_instructions")]
    #[schemars(length(min = 1, max = 4096), example = &"Summarise in three bullet points.")]
    pub instructions: String,
    /// Most characters of page text sent to the model.
    #[serde(default = "default_max_chars")]
    #[schemars(range(min = 100, max = 500_000), example = 20_000)]
    pub max_chars: usize,
    /// Most tokens of the summary.
    #[serde(default)]
    #[schemars(range(min = 1, max = 100_000), example = 300)]
    pub max_tokens: Option<u32>,
}

fn default_base_url() -> String {
    "https://api.openai.com/v1".into()
}
fn default_instructions() -> String {
    "Summarise the following page in a short paragraph.".into()
}
fn default_max_chars() -> usize {
    20_000
}
fn example() -> Value {
    serde_json::json!({"url": "https://example.com/article", "model": "gpt-4o-mini"})
}

/// Result of a `fetch_and_summarize` job.
#[derive(Debug, Serialize)]
pub struct Output {
    /// The summary.
    pub summary: String,
    /// The page's `<title>`, when it has one.
    pub title: Option<String>,
    /// Characters of page text sent to the model.
    pub chars_sent: usize,
    /// Whether the text was cut to `max_chars`.
    pub truncated: bool,
    /// Tokens used.
    pub usage: Usage,
}

/// The job type.
pub struct FetchAndSummarize;

impl Job for FetchAndSummarize {
    type Config = Config;
    type Output = Output;

    fn describe() -> JobType {
        let job_type = JobType::new("fetch_and_summarize", "1.0.0", "Fetch and summarise")
            .description(
                "Fetches a web page, extracts its readable text (scripts, styles and tags \
                 removed), and asks an OpenAI-compatible model to summarise it following \
                 the given instructions. The API key is the tenant's `openai_api_key` secret.",
            )
            .user_facing_description("Summarise a web page with a language model.");
        openai_chat::declare(
            job_type,
            "the pages to summarise and the OpenAI-compatible API the operator allows",
        )
    }

    fn run(config: Config, ctx: &mut Context) -> Result<Output, JobError> {
        let key = ctx.secret(API_KEY_SECRET)?;
        ctx.progress(5, "fetching the page");
        let page = Request::get(&config.url)
            .header("accept", "text/html, text/plain")
            .send()?;
        if !page.is_success() {
            return Err(JobError::failed(format!(
                "the page answered {}",
                page.status
            )));
        }
        let html = page.text();
        let title = title_of(&html);
        let text = text_of(&html);
        let truncated = text.chars().count() > config.max_chars;
        let text: String = text.chars().take(config.max_chars).collect();
        ctx.info(format_args!("{} characters of text", text.chars().count()));
        ctx.progress(40, "summarising");
        let answer = openai_chat::complete(
            &Ask {
                base_url: &config.base_url,
                model: &config.model,
                messages: vec![
                    Message {
                        role: Role::System,
                        content: config.instructions,
                    },
                    Message {
                        role: Role::User,
                        content: text.clone(),
                    },
                ],
                temperature: Some(0.2),
                max_tokens: config.max_tokens,
                timeout_ms: None,
            },
            &key,
        )?;
        Ok(Output {
            summary: answer.text,
            title,
            chars_sent: text.chars().count(),
            truncated,
            usage: answer.usage,
        })
    }
}

fn title_of(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let start = lower.find("<title")?;
    let open_end = lower[start..].find('>')? + start + 1;
    let close = lower[open_end..].find("</title>")? + open_end;
    let title = decode(html[open_end..close].trim());
    (!title.is_empty()).then_some(title)
}

/// The readable text of an HTML page: tags, scripts and styles removed,
/// common entities decoded, whitespace collapsed. Plain text passes through.
pub fn text_of(html: &str) -> String {
    let lower = html.to_ascii_lowercase();
    let mut out = String::with_capacity(html.len() / 2);
    let mut i = 0;
    while i < html.len() {
        if html.as_bytes()[i] == b'<' {
            let skip_to = ["script", "style", "noscript"].iter().find_map(|t| {
                lower[i + 1..]
                    .starts_with(t)
                    .then(|| lower[i..].find(&format!("</{t}")).map(|e| i + e))
                    .flatten()
            });
            let from = skip_to.unwrap_or(i);
            match lower[from..].find('>') {
                Some(end) => {
                    i = from + end + 1;
                    out.push(' ');
                    continue;
                }
                None => break,
            }
        }
        let next = html[i..].find('<').map_or(html.len(), |n| i + n);
        out.push_str(&decode(&html[i..next]));
        i = next;
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn decode(s: &str) -> String {
    s.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

jobhost_plugin::export_job!(FetchAndSummarize);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_title_come_out_of_html() {
        let html = "<html><head><title>A &amp; B</title><style>p{}</style></head>\
                    <body><script>var x = '<p>';</script><p>Hello&nbsp;<b>world</b></p></body></html>";
        assert_eq!(title_of(html).as_deref(), Some("A & B"));
        assert_eq!(text_of(html), "A & B Hello world");
        assert_eq!(text_of("plain text"), "plain text");
    }
}

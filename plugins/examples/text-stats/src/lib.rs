//! `text_stats`: counts characters, words, lines and sentences of a text,
//! estimates reading time and lists the most frequent words.

use jobhost_plugin::{Context, Job, JobError, JobType, SideEffects};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

/// Config of a `text_stats` job.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = example_config())]
pub struct Config {
    /// The text to analyse (up to 1,048,576 characters).
    #[schemars(
        length(max = 1_048_576),
        example = "The quick brown fox jumps over the lazy dog."
    )]
    pub text: String,
    /// How many of the most frequent words to list.
    #[serde(default = "default_top_n")]
    #[schemars(range(min = 0, max = 1000), example = 5)]
    pub top_n: usize,
    /// Count `The` and `the` as different words.
    #[serde(default)]
    #[schemars(example = false)]
    pub case_sensitive: bool,
    /// Words shorter than this many characters are left out of the frequency list.
    #[serde(default = "default_min_word_length")]
    #[schemars(range(min = 1, max = 100), example = 3)]
    pub min_word_length: usize,
    /// Words left out of the frequency list (matched case-insensitively).
    #[serde(default)]
    #[schemars(length(max = 10_000), example = vec!["the", "a", "and"])]
    pub stopwords: Vec<String>,
    /// Reading speed used for the reading-time estimate, in words per minute.
    #[serde(default = "default_wpm")]
    #[schemars(range(min = 50, max = 2000), example = 238)]
    pub words_per_minute: u32,
}

fn default_top_n() -> usize {
    10
}
fn default_min_word_length() -> usize {
    1
}
fn default_wpm() -> u32 {
    238
}
fn example_config() -> serde_json::Value {
    serde_json::json!({"text": "It was the best of times, it was the worst of times.", "top_n": 3})
}

/// One entry of the frequency list.
#[derive(Debug, Serialize, PartialEq)]
pub struct WordCount {
    /// The word.
    pub word: String,
    /// How often it occurs.
    pub count: usize,
}

/// Result of a `text_stats` job.
#[derive(Debug, Serialize, PartialEq)]
pub struct Stats {
    /// Unicode scalar values.
    pub characters: usize,
    /// Characters that are not white space.
    pub characters_excluding_spaces: usize,
    /// UTF-8 bytes.
    pub bytes: usize,
    /// Words: runs of letters, digits, apostrophes and hyphens.
    pub words: usize,
    /// Distinct words (after case folding unless case-sensitive).
    pub unique_words: usize,
    /// Lines, counting a last line without a newline.
    pub lines: usize,
    /// Sentences ending in `.`, `!` or `?` (and a final unterminated one).
    pub sentences: usize,
    /// Paragraphs separated by blank lines.
    pub paragraphs: usize,
    /// Mean word length in characters, rounded to two decimals.
    pub average_word_length: f64,
    /// Estimated reading time in seconds.
    pub reading_time_seconds: u64,
    /// The most frequent words, most frequent first, ties alphabetical.
    pub top_words: Vec<WordCount>,
}

/// Computes the statistics; pure so it can be unit-tested natively.
pub fn analyse(config: &Config) -> Stats {
    let text = &config.text;
    let stop: BTreeSet<String> = config.stopwords.iter().map(|w| w.to_lowercase()).collect();
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut words = 0usize;
    let mut word_chars = 0usize;
    for raw in text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '-')) {
        let word = raw.trim_matches(|c| c == '\'' || c == '-');
        if word.is_empty() {
            continue;
        }
        words += 1;
        let len = word.chars().count();
        word_chars += len;
        let key = if config.case_sensitive {
            word.to_string()
        } else {
            word.to_lowercase()
        };
        *counts.entry(key).or_default() += 1;
    }
    let unique_words = counts.len();
    let mut top: Vec<WordCount> = counts
        .into_iter()
        .filter(|(w, _)| {
            w.chars().count() >= config.min_word_length && !stop.contains(&w.to_lowercase())
        })
        .map(|(word, count)| WordCount { word, count })
        .collect();
    top.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.word.cmp(&b.word)));
    top.truncate(config.top_n);

    let sentences = count_sentences(text);
    let paragraphs = text.split("\n\n").filter(|p| !p.trim().is_empty()).count();
    let average = if words == 0 {
        0.0
    } else {
        word_chars as f64 / words as f64
    };
    Stats {
        characters: text.chars().count(),
        characters_excluding_spaces: text.chars().filter(|c| !c.is_whitespace()).count(),
        bytes: text.len(),
        words,
        unique_words,
        lines: text.lines().count(),
        sentences,
        paragraphs,
        average_word_length: (average * 100.0).round() / 100.0,
        reading_time_seconds: (words as u64 * 60).div_ceil(u64::from(config.words_per_minute)),
        top_words: top,
    }
}

fn count_sentences(text: &str) -> usize {
    let mut sentences = 0;
    let mut in_sentence = false;
    for c in text.chars() {
        if matches!(c, '.' | '!' | '?') {
            if in_sentence {
                sentences += 1;
                in_sentence = false;
            }
        } else if c.is_alphanumeric() {
            in_sentence = true;
        }
    }
    sentences + usize::from(in_sentence)
}

struct TextStats;

impl Job for TextStats {
    type Config = Config;
    type Output = Stats;

    fn describe() -> JobType {
        JobType::new("text_stats", "1.0.0", "Text statistics")
            .description(
                "Counts characters, words, lines, sentences and paragraphs of a text, estimates \
                 its reading time and lists its most frequent words.",
            )
            .user_facing_description(
                "Get word counts, reading time and the most used words of a text.",
            )
            .timeout_ms(10_000)
            .memory_bytes(64 << 20)
            // Computes on its config only: nothing outside the run changes.
            .side_effects(SideEffects {
                read_only: true,
                idempotent: true,
                destructive: false,
            })
    }

    fn run(config: Config, ctx: &mut Context) -> Result<Stats, JobError> {
        ctx.info(format_args!(
            "analysing {} bytes of text",
            config.text.len()
        ));
        let stats = analyse(&config);
        ctx.progress(100, "done");
        Ok(stats)
    }
}

jobhost_plugin::export_job!(TextStats);

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        jobhost_plugin::parse_config(&serde_json::json!({ "text": text }).to_string()).unwrap()
    }

    #[test]
    fn counts_a_small_text() {
        let stats = analyse(&config("The cat sat. The dog ran!\nDid the cat run?"));
        assert_eq!(stats.words, 10);
        assert_eq!(stats.sentences, 3);
        assert_eq!(stats.lines, 2);
        assert_eq!(
            stats.top_words[0],
            WordCount {
                word: "the".into(),
                count: 3
            }
        );
        assert_eq!(
            stats.top_words[1],
            WordCount {
                word: "cat".into(),
                count: 2
            }
        );
    }

    #[test]
    fn empty_text_is_all_zero() {
        let stats = analyse(&config(""));
        assert_eq!(
            (
                stats.words,
                stats.sentences,
                stats.lines,
                stats.reading_time_seconds
            ),
            (0, 0, 0, 0)
        );
        assert!(stats.top_words.is_empty());
    }

    #[test]
    fn stopwords_and_min_length_filter_the_list() {
        let mut c = config("a a a the the cat");
        c.stopwords = vec!["THE".into()];
        c.min_word_length = 2;
        let stats = analyse(&c);
        assert_eq!(
            stats.top_words,
            vec![WordCount {
                word: "cat".into(),
                count: 1
            }]
        );
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = jobhost_plugin::parse_config::<Config>(r#"{"text":"x","colour":1}"#).unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }
}

//! Asks between hosts sharing a store: a pause or resume requested through
//! a host that does not execute the run is stored for the host that does,
//! which carries it out (as if asked directly) and stores its answer for
//! the asking host. A store only one host uses holds none: its host
//! executes every run it has.

use super::{Sled, StoreError};
use crate::model::RunId;

/// What a host asks the host executing a run to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// Pause it (at its next checkpoint, or suspended where it stands).
    Pause,
    /// Resume it where it is suspended, or call off a pause not yet
    /// reached.
    Resume,
}

impl Ask {
    /// Its name in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Ask::Pause => "pause",
            Ask::Resume => "resume",
        }
    }

    /// The ask named `name`.
    pub fn parse(name: &str) -> Option<Ask> {
        match name {
            "pause" => Some(Ask::Pause),
            "resume" => Some(Ask::Resume),
            _ => None,
        }
    }
}

/// The executing host's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Done: the run's record shows it.
    Done,
    /// The run is ending, or that host no longer executes it.
    NotHere,
    /// That host has as many runs suspended in memory as it allows.
    TooMany {
        /// Its cap.
        max: usize,
    },
    /// Carrying it out failed there.
    Failed(String),
}

impl Answer {
    /// Its form in the store.
    pub fn encode(&self) -> String {
        match self {
            Answer::Done => "done".into(),
            Answer::NotHere => "not here".into(),
            Answer::TooMany { max } => format!("too many {max}"),
            Answer::Failed(why) => format!("failed {why}"),
        }
    }

    /// The answer stored as `text`.
    pub fn decode(text: &str) -> Answer {
        if text == "done" {
            Answer::Done
        } else if let Some(max) = text.strip_prefix("too many ") {
            Answer::TooMany {
                max: max.parse().unwrap_or(0),
            }
        } else if let Some(why) = text.strip_prefix("failed ") {
            Answer::Failed(why.into())
        } else {
            Answer::NotHere
        }
    }
}

/// An ask waiting for the executing host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asked {
    /// Its id, to answer it by.
    pub id: i64,
    /// The run.
    pub run: RunId,
    /// What is asked.
    pub ask: Ask,
}

/// Asks between hosts (see the module docs).
pub trait AskStore {
    /// Stores `ask` for the host executing `attempt` of `run`; returns its
    /// id, or `None` on a store only one host uses (no other host to ask).
    fn ask(&self, run: RunId, attempt: u32, ask: Ask) -> Result<Option<i64>, StoreError> {
        let _ = (run, attempt, ask);
        Ok(None)
    }

    /// The unanswered asks for the attempts `held` (the ones executing on
    /// the calling host), oldest first.
    fn asked(&self, held: &[(RunId, u32)]) -> Result<Vec<Asked>, StoreError> {
        let _ = held;
        Ok(Vec::new())
    }

    /// Stores the answer to ask `id`.
    fn answer(&self, id: i64, answer: &Answer) -> Result<(), StoreError> {
        let _ = (id, answer);
        Ok(())
    }

    /// The answer to ask `id`, if given; with `give_up`, removes the ask
    /// either way (so that it is not carried out after the asking host
    /// stopped waiting) and returns the answer given by then.
    fn answered(&self, id: i64, give_up: bool) -> Result<Option<Answer>, StoreError> {
        let _ = (id, give_up);
        Ok(None)
    }
}

impl AskStore for Sled {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asks_and_answers_read_back_as_stored() {
        for ask in [Ask::Pause, Ask::Resume] {
            assert_eq!(Ask::parse(ask.as_str()), Some(ask));
        }
        assert_eq!(Ask::parse("cancel"), None);
        for answer in [
            Answer::Done,
            Answer::NotHere,
            Answer::TooMany { max: 7 },
            Answer::Failed("the store refused: it is gone".into()),
        ] {
            assert_eq!(Answer::decode(&answer.encode()), answer);
        }
    }
}

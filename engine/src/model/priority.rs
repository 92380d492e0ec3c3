//! How urgent a job is: the first field of the READY key.

use std::fmt;

/// How urgent a job is. Lower values are claimed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Priority {
    /// One urgent upload or a manual re-process: always first, with a reserved worker lane.
    Interactive,
    /// A bulk import.
    Batch,
    /// Tier-3 enrichment of batch imports: only when nothing above is waiting.
    Background,
}

impl Priority {
    /// The byte stored in the READY key; smaller sorts first.
    pub(crate) fn as_u8(self) -> u8 {
        match self {
            Priority::Interactive => 0,
            Priority::Batch => 1,
            Priority::Background => 2,
        }
    }

    /// The priority a stored byte stands for; unknown bytes read as background.
    pub(crate) fn from_u8(value: u8) -> Priority {
        match value {
            0 => Priority::Interactive,
            1 => Priority::Batch,
            _ => Priority::Background,
        }
    }

    /// The lowercase name used by the CLI: `interactive`, `batch` or `background`.
    pub fn name(self) -> &'static str {
        match self {
            Priority::Interactive => "interactive",
            Priority::Batch => "batch",
            Priority::Background => "background",
        }
    }
}

impl std::str::FromStr for Priority {
    type Err = String;

    /// Parses `interactive`, `batch` or `background`.
    fn from_str(name: &str) -> Result<Priority, String> {
        match name {
            "interactive" => Ok(Priority::Interactive),
            "batch" => Ok(Priority::Batch),
            "background" => Ok(Priority::Background),
            other => Err(format!(
                "unknown priority `{other}`; use interactive, batch or background"
            )),
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

//! A job's states, as stored in job records and counter keys.

/// Job states, as stored in records and counter keys.
pub(crate) mod state {
    pub(crate) const READY: u8 = 0;
    pub(crate) const LEASED: u8 = 1;
    pub(crate) const DELAYED: u8 = 2;
    pub(crate) const DEAD: u8 = 3;
    pub(crate) const DONE: u8 = 4;
    pub(crate) const SKIPPED: u8 = 5;
}

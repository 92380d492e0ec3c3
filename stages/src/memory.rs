//! The memory budget of decoding: large images wait their turn instead of
//! decoding side by side.
//!
//! One worker per core decodes at once, and the largest image kiln accepts
//! needs about a gigabyte while it is decoded; several of them together
//! would multiply that. Before decoding, a stage reserves its estimated
//! peak from one budget shared by the process; a reservation that does not
//! fit waits until others are given back, and one larger than the whole
//! budget fails at once (the file is a dead letter saying so). Small images
//! reserve little and never wait on each other.

use std::sync::{Condvar, Mutex};

/// The budget when none is set: 1 GiB.
pub const DEFAULT_BUDGET: u64 = 1 << 30;

struct State {
    limit: u64,
    used: u64,
}

static STATE: Mutex<State> = Mutex::new(State {
    limit: DEFAULT_BUDGET,
    used: 0,
});
static RETURNED: Condvar = Condvar::new();

/// Sets the budget, in bytes, for every later reservation of this process
/// (at least 1 MiB). Reservations already held keep their bytes.
pub fn set_budget(bytes: u64) {
    if let Ok(mut state) = STATE.lock() {
        state.limit = bytes.max(1 << 20);
    }
    RETURNED.notify_all();
}

/// The budget in bytes.
pub fn budget() -> u64 {
    STATE.lock().map_or(DEFAULT_BUDGET, |s| s.limit)
}

/// A reservation larger than the whole budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverBudget {
    /// The bytes asked for.
    pub needed: u64,
    /// The whole budget.
    pub budget: u64,
}

/// Bytes of the budget held until dropped.
#[derive(Debug)]
pub struct Reservation {
    bytes: u64,
}

impl Reservation {
    /// The bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Ok(mut state) = STATE.lock() {
            state.used = state.used.saturating_sub(self.bytes);
        }
        RETURNED.notify_all();
    }
}

/// Reserves `bytes`, waiting while the rest of the budget is held by other
/// reservations. Fails at once when `bytes` exceeds the whole budget.
pub fn reserve(bytes: u64) -> Result<Reservation, OverBudget> {
    let Ok(mut state) = STATE.lock() else {
        // A panic while the lock was held: reserve nothing rather than fail.
        return Ok(Reservation { bytes: 0 });
    };
    loop {
        if bytes > state.limit {
            return Err(OverBudget {
                needed: bytes,
                budget: state.limit,
            });
        }
        if state.used.saturating_add(bytes) <= state.limit {
            state.used += bytes;
            return Ok(Reservation { bytes });
        }
        state = match RETURNED.wait(state) {
            Ok(state) => state,
            Err(_) => return Ok(Reservation { bytes: 0 }),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    /// One test drives the process-wide budget, so nothing else races it.
    #[test]
    fn reservations_wait_for_room_and_oversized_ones_fail() {
        set_budget(100 << 20);
        assert_eq!(budget(), 100 << 20);
        let too_big = reserve(101 << 20).expect_err("larger than the budget");
        assert_eq!(too_big.budget, 100 << 20);

        let first = reserve(60 << 20).expect("fits");
        let (done, waited) = mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let second = reserve(60 << 20).expect("fits once the first is back");
            done.send(second.bytes()).expect("send");
        });
        // While the first is held the second cannot have its bytes.
        assert!(waited.recv_timeout(Duration::from_millis(200)).is_err());
        drop(first);
        assert_eq!(waited.recv_timeout(Duration::from_secs(60)), Ok(60 << 20));
        waiter.join().expect("joins");
        set_budget(DEFAULT_BUDGET);
    }
}

//! Counter leases: an instance takes a few units of a busy rule at once and admits the next
//! requests from them, so a warm request's rate-limit check needs no DynamoDB round trip.
//!
//! When an admitted request's `UpdateItem` runs, it can take `cost + k` units instead of `cost`
//! (same condition, same item): the `k` extra units are counted in DynamoDB like any admitted
//! request, and this instance keeps them as a lease for the rest of the window. Later requests
//! of the same (rule, key) on this instance take from the lease in memory. When the lease is
//! half used, a refill of `k` more units is queued as a deferred write
//! ([`crate::deferred`]): on Lambda it runs after the answer, before the next event, so the
//! critical path keeps no round trip while the user stays under the limit.
//!
//! Why it is exact on the strict side: every unit ever admitted anywhere was first counted in
//! DynamoDB by the conditional update that caps the window at the limit, so the limit is never
//! exceeded across instances. What it costs: units leased by an instance that sees no further
//! request in the window are counted but unused, so other instances may be refused up to
//! `k - 1` units early per idle lease, until the window ends (and its share decays out of the
//! sliding estimate). `k` is small against the limit (2 %, at most 20), and only rules of at
//! least [`LEASE_MIN_LIMIT`] units lease at all: an SMS, upload or OTP rule (limits 1 to 60) is
//! checked in DynamoDB on every request, exactly as before.
//!
//! Leases are used only where deferred writes run (`shared::http::run` on Lambda): elsewhere
//! (tests, workers) every check goes to DynamoDB.

use std::collections::HashMap;
use std::sync::Mutex;

/// Rules below this limit are never leased.
pub(super) const LEASE_MIN_LIMIT: u64 = 100;

/// The lease size for a rule: 2 % of its limit, between 2 and 20 units; 0 = no lease.
pub(super) fn lease_size(limit: u64) -> u64 {
    if limit < LEASE_MIN_LIMIT {
        0
    } else {
        (limit / 50).clamp(2, 20)
    }
}

/// What this instance holds for one counter in one window.
#[derive(Debug, Clone)]
pub(super) struct Lease {
    pub(super) window_index: u64,
    /// When the window ends; a lease is worthless afterwards (pruning).
    pub(super) window_end_ms: u64,
    /// Units counted in DynamoDB and not yet used by a request.
    pub(super) units: u64,
    /// The counter's current and previous windows at the last update this instance saw
    /// (the current one includes the leased units).
    pub(super) db_count: u64,
    pub(super) db_previous: u64,
    /// A refill is queued or running.
    pub(super) refilling: bool,
    /// A refill was refused (the window is full): no more refills in this window.
    pub(super) exhausted: bool,
}

impl Lease {
    fn empty(window_index: u64, window_end_ms: u64) -> Self {
        Self {
            window_index,
            window_end_ms,
            units: 0,
            db_count: 0,
            db_previous: 0,
            refilling: false,
            exhausted: false,
        }
    }
}

/// Taken from a lease: what the quota headers need, and whether to queue a refill.
#[derive(Debug)]
pub(super) struct FromLease {
    pub(super) units_left: u64,
    pub(super) db_count: u64,
    pub(super) db_previous: u64,
    pub(super) refill: bool,
}

#[derive(Default)]
pub(super) struct Leases {
    map: Mutex<HashMap<(String, String), Lease>>,
}

impl Leases {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Lease>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes `cost` units of the lease of (`pk`, `sk`) in window `index`, if it holds them.
    pub(super) fn take(
        &self,
        pk: &str,
        sk: &str,
        index: u64,
        cost: u64,
        k: u64,
    ) -> Option<FromLease> {
        let mut map = self.lock();
        let lease = map.get_mut(&(pk.to_string(), sk.to_string()))?;
        if lease.window_index != index || lease.units < cost {
            return None;
        }
        lease.units -= cost;
        let refill = !lease.refilling && !lease.exhausted && lease.units <= k / 2;
        if refill {
            lease.refilling = true;
        }
        Some(FromLease {
            units_left: lease.units,
            db_count: lease.db_count,
            db_previous: lease.db_previous,
            refill,
        })
    }

    /// Whether a refill of this window was already refused (the next synchronous check then
    /// asks for its own cost only, sparing a round trip that would be refused).
    pub(super) fn exhausted(&self, pk: &str, sk: &str, index: u64) -> bool {
        self.lock()
            .get(&(pk.to_string(), sk.to_string()))
            .is_some_and(|l| l.window_index == index && l.exhausted)
    }

    /// Units counted by an admitted update, kept for this window (adds to what is held).
    pub(super) fn grant(
        &self,
        pk: &str,
        sk: &str,
        window: (u64, u64),
        units: u64,
        db: (u64, u64),
        now_ms: u64,
    ) {
        let (index, end_ms) = window;
        let mut map = self.lock();
        if map.len() >= 4096 {
            map.retain(|_, l| l.window_end_ms > now_ms);
        }
        let lease = map
            .entry((pk.to_string(), sk.to_string()))
            .or_insert_with(|| Lease::empty(index, end_ms));
        if lease.window_index != index {
            *lease = Lease::empty(index, end_ms);
        }
        lease.units += units;
        lease.db_count = lease.db_count.max(db.0);
        lease.db_previous = db.1;
    }

    /// A refill finished: `granted` units (None = refused, the window is full).
    pub(super) fn refilled(
        &self,
        pk: &str,
        sk: &str,
        index: u64,
        granted: Option<(u64, u64, u64)>,
    ) {
        let mut map = self.lock();
        let Some(lease) = map.get_mut(&(pk.to_string(), sk.to_string())) else {
            return;
        };
        if lease.window_index != index {
            return;
        }
        lease.refilling = false;
        match granted {
            Some((units, count, previous)) => {
                lease.units += units;
                lease.db_count = lease.db_count.max(count);
                lease.db_previous = previous;
            }
            None => lease.exhausted = true,
        }
    }

    /// A refill failed for a reason other than a full window: allow another later.
    pub(super) fn refill_failed(&self, pk: &str, sk: &str) {
        if let Some(lease) = self.lock().get_mut(&(pk.to_string(), sk.to_string())) {
            lease.refilling = false;
        }
    }

    /// Gives units taken from the lease back (the work did not happen).
    pub(super) fn give_back(&self, pk: &str, sk: &str, index: u64, units: u64) {
        if let Some(lease) = self.lock().get_mut(&(pk.to_string(), sk.to_string()))
            && lease.window_index == index
        {
            lease.units += units;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_small_against_the_limit_and_none_below_the_minimum() {
        assert_eq!(lease_size(10), 0);
        assert_eq!(lease_size(60), 0);
        assert_eq!(lease_size(100), 2);
        assert_eq!(lease_size(500), 10);
        assert_eq!(lease_size(1000), 20);
        assert_eq!(lease_size(100_000), 20);
    }

    #[test]
    fn a_lease_serves_its_window_only_and_asks_for_one_refill_at_half() {
        let leases = Leases::default();
        leases.grant("pk", "sk", (7, 70_000), 10, (11, 3), 0);
        let mut refills = 0;
        for left in (0..10).rev() {
            let got = leases.take("pk", "sk", 7, 1, 10).expect("held");
            assert_eq!(got.units_left, left);
            refills += got.refill as u32;
        }
        assert_eq!(refills, 1, "one refill queued while the first is pending");
        assert!(leases.take("pk", "sk", 7, 1, 10).is_none(), "empty");
        leases.refilled("pk", "sk", 7, Some((10, 21, 3)));
        assert!(
            leases.take("pk", "sk", 8, 1, 10).is_none(),
            "another window"
        );
        assert_eq!(leases.take("pk", "sk", 7, 1, 10).unwrap().db_count, 21);
        leases.refilled("pk", "sk", 7, None);
        assert!(leases.exhausted("pk", "sk", 7));
        leases.give_back("pk", "sk", 7, 1);
        assert_eq!(leases.take("pk", "sk", 7, 10, 10).unwrap().units_left, 0);
    }
}

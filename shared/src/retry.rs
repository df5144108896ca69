//! Back-off for batch calls whose entries can fail one by one — SendMessageBatch's per-entry
//! failures, BatchGetItem's unprocessed keys: offered again after doubling, jittered pauses,
//! and reported when the retries are spent, never dropped.

use std::future::Future;
use std::time::Duration;

use crate::ports::AdapterError;

/// Retries and the first pause; each pause doubles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub retries: u32,
    pub first: Duration,
}

impl Backoff {
    /// Re-queues (SendMessageBatch): at most 0.1 + 0.2 + 0.4 + 0.8 = 1.5 s of pauses per batch.
    pub const REQUEUE: Self = Self {
        retries: 4,
        first: Duration::from_millis(100),
    };

    /// The pause before retry `n` (1: the first retry): `first`·2ⁿ⁻¹, jittered to between half
    /// and all of it, so callers throttled together do not all come back together.
    pub fn pause(&self, n: u32) -> Duration {
        let full = self.first.saturating_mul(1 << n.saturating_sub(1).min(16));
        let half = full / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

/// Offers `items` to `send` — one call with every item not yet accepted — until all are
/// accepted or `backoff.retries` are spent. `send` answers one outcome per item given, in order
/// (a failed call: its error for each). Returns each item's outcome in order: for an item
/// never accepted, the last refusal.
pub async fn until_accepted<T, F, Fut>(
    items: &[T],
    backoff: Backoff,
    mut send: F,
) -> Vec<Result<(), String>>
where
    T: Clone,
    F: FnMut(Vec<T>) -> Fut,
    Fut: Future<Output = Vec<Result<(), String>>>,
{
    let mut outcomes: Vec<Result<(), String>> = vec![Ok(()); items.len()];
    let mut pending: Vec<usize> = (0..items.len()).collect();
    let mut retry = 0;
    while !pending.is_empty() {
        if retry > 0 {
            tokio::time::sleep(backoff.pause(retry)).await;
        }
        let answers = send(pending.iter().map(|&i| items[i].clone()).collect()).await;
        let mut refused = Vec::new();
        for (k, &i) in pending.iter().enumerate() {
            outcomes[i] = answers
                .get(k)
                .cloned()
                .unwrap_or_else(|| Err("no answer for this entry".into()));
            if outcomes[i].is_err() {
                refused.push(i);
            }
        }
        pending = refused;
        if retry == backoff.retries {
            break;
        }
        retry += 1;
    }
    outcomes
}

/// An item [`until_accepted`] could not get accepted, as the port reports it.
pub fn gave_up(reason: String, backoff: Backoff) -> AdapterError {
    AdapterError::msg(format!(
        "{reason} (still refused after {} retries)",
        backoff.retries
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn pauses_double_and_are_jittered_between_half_and_all() {
        let backoff = Backoff {
            retries: 4,
            first: Duration::from_millis(100),
        };
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            for n in 1..=4u32 {
                let full = Duration::from_millis(100 << (n - 1));
                let pause = backoff.pause(n);
                assert!(pause >= full / 2 && pause <= full, "retry {n}: {pause:?}");
                seen.insert(pause);
            }
        }
        assert!(seen.len() > 100, "jittered, not fixed: {}", seen.len());
    }

    #[tokio::test(start_paused = true)]
    async fn refused_entries_are_offered_again_until_accepted() {
        // Entry "b" is refused twice, then accepted; "a" and "c" go through at once.
        let calls = Mutex::new(Vec::new());
        let outcomes = until_accepted(&["a", "b", "c"], Backoff::REQUEUE, |batch| {
            calls.lock().unwrap().push(batch.clone());
            let n = calls.lock().unwrap().len();
            async move {
                batch
                    .iter()
                    .map(|e| {
                        if *e == "b" && n < 3 {
                            Err("ThrottlingException".to_owned())
                        } else {
                            Ok(())
                        }
                    })
                    .collect()
            }
        })
        .await;

        assert_eq!(outcomes, vec![Ok(()), Ok(()), Ok(())]);
        assert_eq!(
            *calls.lock().unwrap(),
            vec![vec!["a", "b", "c"], vec!["b"], vec!["b"]]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_entry_refused_every_time_is_reported_after_the_retries_not_dropped() {
        let calls = Mutex::new(0);
        let started = tokio::time::Instant::now();
        let outcomes = until_accepted(&[1, 2], Backoff::REQUEUE, |batch| {
            *calls.lock().unwrap() += 1;
            async move {
                batch
                    .iter()
                    .map(|n| {
                        if *n == 2 {
                            Err(format!("refused {n}"))
                        } else {
                            Ok(())
                        }
                    })
                    .collect()
            }
        })
        .await;

        assert_eq!(outcomes, vec![Ok(()), Err("refused 2".into())]);
        assert_eq!(*calls.lock().unwrap(), 1 + Backoff::REQUEUE.retries);
        let paused = started.elapsed();
        assert!(
            paused >= Duration::from_millis(750) && paused <= Duration::from_millis(1500),
            "{paused:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_call_counts_as_a_refusal_of_each_entry_it_carried() {
        let mut first = true;
        let outcomes = until_accepted(&[1, 2, 3], Backoff::REQUEUE, |batch| {
            let fail = std::mem::take(&mut first);
            async move {
                if fail {
                    vec![Err("connection reset".into()); batch.len()]
                } else {
                    vec![Ok(()); batch.len()]
                }
            }
        })
        .await;
        assert_eq!(outcomes, vec![Ok(()), Ok(()), Ok(())]);
    }
}

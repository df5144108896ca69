//! Glase's notification retry schedule, as its documentation states it.

use std::time::Duration;

/// Seconds to wait before each attempt, counted from the start of the previous one (the first
/// is sent at once): 3 attempts about 10 s apart, then 10 retries after 1 min, 3 min 45 s,
/// 7 min 30 s, 15 min, 30 min, 1 h, 2 h, 4 h, 8 h and 16 h. About 32 h in all.
pub const SCHEDULE_SECS: [u64; 13] = [
    0, 10, 10, 60, 225, 450, 900, 1_800, 3_600, 7_200, 14_400, 28_800, 57_600,
];

/// The shortest per-attempt timeout, however small the time scale: network and a loaded
/// machine do not speed up with simulated time (200 ms let a busy CI host's webhook miss all
/// 13 attempts at 1000×).
pub const MIN_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// The delay before each attempt (first is zero), multiplied by `time_scale`.
pub fn notification_delays(time_scale: f64) -> Vec<Duration> {
    SCHEDULE_SECS
        .iter()
        .map(|&s| scaled(Duration::from_secs(s), time_scale))
        .collect()
}

/// How long one notification POST may take before it counts as failed: 10 s scaled, at least
/// [`MIN_ATTEMPT_TIMEOUT`].
pub fn attempt_timeout(time_scale: f64) -> Duration {
    scaled(Duration::from_secs(10), time_scale).max(MIN_ATTEMPT_TIMEOUT)
}

fn scaled(d: Duration, time_scale: f64) -> Duration {
    // Validated finite and >= 0 when the simulator is built; clamp anyway so this never panics.
    let factor = if time_scale.is_finite() {
        time_scale.clamp(0.0, 1.0e6)
    } else {
        1.0
    };
    d.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn real_schedule_is_three_quick_attempts_then_ten_growing_retries() {
        // Act
        let delays = notification_delays(1.0);

        // Assert
        let expected = [
            secs(0),
            secs(10),
            secs(10),
            secs(60),
            secs(3 * 60 + 45),
            secs(7 * 60 + 30),
            secs(15 * 60),
            secs(30 * 60),
            secs(3_600),
            secs(2 * 3_600),
            secs(4 * 3_600),
            secs(8 * 3_600),
            secs(16 * 3_600),
        ];
        assert_eq!(delays, expected);
        let total: Duration = delays.iter().sum();
        assert_eq!(total, secs(115_055), "about 32 h in all");
    }

    #[test]
    fn time_scale_multiplies_every_delay() {
        // Act
        let delays = notification_delays(0.001);

        // Assert
        assert_eq!(delays[1], Duration::from_millis(10));
        assert_eq!(delays[4], Duration::from_millis(225));
        assert_eq!(delays[12], Duration::from_millis(57_600));
        assert!(notification_delays(0.0).iter().all(Duration::is_zero));
    }

    #[test]
    fn attempt_timeout_scales_but_never_drops_below_the_floor() {
        assert_eq!(attempt_timeout(1.0), secs(10));
        assert_eq!(attempt_timeout(0.5), secs(5));
        assert_eq!(attempt_timeout(0.001), MIN_ATTEMPT_TIMEOUT);
        assert_eq!(attempt_timeout(0.0), MIN_ATTEMPT_TIMEOUT);
    }
}

//! Virtual time. The simulator never reads a clock: every call that needs "now" is handed a
//! [`Time`], and the scheduler (`sched`) is the only thing that moves it forward.

use std::fmt;
use std::ops::{Add, Sub};

/// An instant on the virtual clock: microseconds since the Unix epoch.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Time(pub u64);

/// A span of virtual time in microseconds.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Span(pub u64);

impl Time {
    /// Saturates at the end of time rather than overflow on absurd input.
    pub const fn from_secs(s: u64) -> Time {
        Time(s.saturating_mul(1_000_000))
    }
    pub const fn from_micros(us: u64) -> Time {
        Time(us)
    }
    /// Whole Unix seconds (floor), as flow-log records print them.
    pub const fn secs(self) -> u64 {
        self.0 / 1_000_000
    }
    pub const fn micros(self) -> u64 {
        self.0
    }
    pub fn saturating_sub(self, other: Time) -> Span {
        Span(self.0.saturating_sub(other.0))
    }
}

impl Span {
    pub const ZERO: Span = Span(0);
    pub const fn from_secs(s: u64) -> Span {
        Span(s.saturating_mul(1_000_000))
    }
    pub const fn from_millis(ms: u64) -> Span {
        Span(ms.saturating_mul(1_000))
    }
    /// `n` times this span (saturating).
    pub const fn times(self, n: u64) -> Span {
        Span(self.0.saturating_mul(n))
    }
    pub const fn from_micros(us: u64) -> Span {
        Span(us)
    }
    pub const fn secs(self) -> u64 {
        self.0 / 1_000_000
    }
    pub const fn micros(self) -> u64 {
        self.0
    }
}

impl Add<Span> for Time {
    type Output = Time;
    fn add(self, rhs: Span) -> Time {
        Time(self.0.saturating_add(rhs.0))
    }
}

impl Sub<Span> for Time {
    type Output = Time;
    fn sub(self, rhs: Span) -> Time {
        Time(self.0.saturating_sub(rhs.0))
    }
}

impl Add for Span {
    type Output = Span;
    fn add(self, rhs: Span) -> Span {
        Span(self.0.saturating_add(rhs.0))
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let frac = self.0 % 1_000_000;
        if frac == 0 {
            write!(f, "{}", self.secs())
        } else {
            write!(f, "{}.{:06}", self.secs(), frac)
        }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let frac = self.0 % 1_000_000;
        if frac == 0 {
            write!(f, "{}s", self.secs())
        } else {
            write!(f, "{}.{:06}s", self.secs(), frac)
        }
    }
}

//! A counting global allocator: wraps mimalloc and keeps the number of live heap bytes, so
//! `vpclab bench` can report what the world holds per active flow.
//!
//! Install it once in the binary:
//!
//! ```ignore
//! #[global_allocator]
//! static GLOBAL: &alloc_count::Counting = &alloc_count::COUNTING;
//! ```
//!
//! (`static GLOBAL: alloc_count::Counting = alloc_count::Counting;` works as well: the counter
//! is shared by every `Counting`.) Without it, [`live_bytes`] stays 0.
//!
//! The counter uses relaxed atomics: one uncontended `fetch_add`/`fetch_sub` per allocation,
//! and the bench reads it only between phases, never on a measured path that needs ordering.

use std::alloc::{GlobalAlloc, Layout};

use mimalloc::MiMalloc as System;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Live bytes allocated through [`Counting`] and not yet freed.
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting live bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counting;

/// The instance `main.rs` installs with `#[global_allocator]`.
pub static COUNTING: Counting = Counting;

/// Heap bytes currently allocated (requested sizes, not the allocator's rounding).
pub fn live_bytes() -> usize {
    LIVE.load(Ordering::Relaxed)
}

// SAFETY: every call is forwarded unchanged to mimalloc; the counter only observes sizes.
unsafe impl GlobalAlloc for Counting {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // The old block is gone and the new one is live (on failure the old one stays).
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            LIVE.fetch_add(new_size, Ordering::Relaxed);
        }
        p
    }
}

// SAFETY: delegates to the `Counting` impl above.
unsafe impl GlobalAlloc for &'static Counting {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract.
        unsafe { (**self).alloc(layout) }
    }
    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract.
        unsafe { (**self).alloc_zeroed(layout) }
    }
    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract.
        unsafe { (**self).dealloc(ptr, layout) }
    }
    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract.
        unsafe { (**self).realloc(ptr, layout, new_size) }
    }
}

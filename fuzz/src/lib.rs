//! What every fuzz binary shares: an allocator that counts, so a target can
//! check that no input makes it hold more memory than
//! [`bagpipe_fuzz_props::memory_budget`] allows, whatever sizes the input
//! claims. (libFuzzer's own `-malloc_limit_mb` needs a sanitizer's malloc
//! hooks, which a `--sanitizer none` build on stable does not have.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, counting the bytes held and their peak.
#[derive(Debug)]
pub struct Counting {
    held: AtomicUsize,
    peak: AtomicUsize,
}

impl Counting {
    pub const fn new() -> Self {
        Self {
            held: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }

    /// Runs `f` on `input` and panics if the bytes held at once during it
    /// rose above what was held before by more than the budget.
    pub fn check_within(&self, input: &[u8], f: impl FnOnce(&[u8])) {
        let before = self.held.load(Ordering::Relaxed);
        self.peak.store(before, Ordering::Relaxed);
        f(input);
        let grew = self.peak.load(Ordering::Relaxed).saturating_sub(before);
        let budget = bagpipe_fuzz_props::memory_budget(input.len());
        assert!(
            grew <= budget,
            "held {grew} bytes at once for a {}-byte input; the budget is {budget}",
            input.len()
        );
    }
}

impl Default for Counting {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: every call is forwarded unchanged to `System`; the counters are
// plain atomics and never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract, passed on as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let held = self.held.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            self.peak.fetch_max(held, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `alloc`.
        unsafe { System.dealloc(ptr, layout) };
        self.held.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let grew = new_size - layout.size();
                let held = self.held.fetch_add(grew, Ordering::Relaxed) + grew;
                self.peak.fetch_max(held, Ordering::Relaxed);
            } else {
                self.held
                    .fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

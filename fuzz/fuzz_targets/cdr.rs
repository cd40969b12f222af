#![no_main]
//! Fuzz target `cdr`: see `bagpipe_fuzz_props::cdr` for its input and properties.

use bagpipe_fuzz::Counting;

#[global_allocator]
static ALLOC: Counting = Counting::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ALLOC.check_within(data, bagpipe_fuzz_props::cdr::check);
});

#![no_main]
//! Fuzz target `mcap`: see `bagpipe_fuzz_props::mcap` for its input and properties.

use bagpipe_fuzz::Counting;

#[global_allocator]
static ALLOC: Counting = Counting::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ALLOC.check_within(data, bagpipe_fuzz_props::mcap::check);
});

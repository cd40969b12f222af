//! Writes the seed corpus of every fuzz target: `seeds OUT_DIR [BAG_DIR...]`
//! (default bag directories: `sample-bags/` and `../shared/bags/real/`).

use std::path::PathBuf;
use std::process::ExitCode;

use bagpipe_fuzz_props::seeds;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let Some(out) = args.next().map(PathBuf::from) else {
        eprintln!("usage: seeds OUT_DIR [BAG_DIR...]");
        return ExitCode::from(2);
    };
    let repo = seeds::repo_root();
    let mut dirs: Vec<PathBuf> = args.map(PathBuf::from).collect();
    if dirs.is_empty() {
        dirs = seeds::bag_dirs(&repo);
    }
    let written = seeds::generate(&repo, &dirs).and_then(|corpus| {
        for (target, seeds) in &corpus {
            println!("{target}: {} seeds", seeds.len());
        }
        seeds::write(&corpus, &out)
    });
    match written {
        Ok(n) => {
            println!("{n} seeds written under {}", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("seeds: {e}");
            ExitCode::FAILURE
        }
    }
}

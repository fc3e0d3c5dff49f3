//! `banter-bench`: load generator for banterd (and any IRC server) on the
//! loopback interface. See `banter-bench help` and docs/performance.md.

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(banter::bench::main_entry(&argv));
}

//! `intentrail` — the rail binary.
fn main() {}

//! `intentrail` — the rail binary. See `intentrail --help`.

use clap::Parser as _;
use intentrail_server::cli::{run, Cli};

/// The hot path allocates many small, short-lived objects on several threads (JSON values,
/// receipts, headers); mimalloc's thread-local free lists cost less than glibc malloc there.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("warn,intentrail_server=info")
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("intentrail: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("intentrail: {e}");
            std::process::exit(1);
        }
    }
}

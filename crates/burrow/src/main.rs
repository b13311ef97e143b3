//! The `burrow` binary: one program with a subcommand per role.

mod cli;
mod packages;
mod runtime;
mod sandbox;
mod serve;
mod user;
mod volumes;

use clap::Parser;

/// The proxy allocates a little for every request it forwards; mimalloc serves those
/// from per-thread pages, where the system allocator takes locks and consolidates.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    // The shim is started once per sandbox and sits on its start-up path: it
    // needs neither the async runtime nor the configuration.
    if let cli::Command::Sandbox {
        command: sandbox::SandboxCommand::Shim { detached, dir },
    } = &cli.command
    {
        return match std::env::current_exe() {
            Ok(exe) => {
                std::process::ExitCode::from(burrow_sandbox::shim::main(dir, *detached, &exe) as u8)
            }
            Err(e) => {
                eprintln!("burrow: cannot find the burrow executable: {e}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("burrow: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // The agent runs in a sandbox pod, which has no configuration or data folder.
    if let cli::Command::Sandbox {
        command:
            sandbox::SandboxCommand::Agent {
                listen,
                ports,
                shared,
            },
    } = &cli.command
    {
        let token = std::env::var(burrow_kube::pod::AGENT_TOKEN_ENV).unwrap_or_default();
        let ended = runtime.block_on(burrow_kube::agent::run(
            *listen,
            ports.clone(),
            token,
            shared.clone(),
        ));
        eprintln!(
            "burrow: the agent stopped: {}",
            match ended {
                Ok(()) => "its listeners closed".to_owned(),
                Err(e) => e.to_string(),
            }
        );
        return std::process::ExitCode::FAILURE;
    }
    match runtime.block_on(cli::run(cli)) {
        Ok(code) => std::process::ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("burrow: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

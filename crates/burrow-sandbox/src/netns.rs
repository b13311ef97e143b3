//! Sockets the host makes inside a sandbox's network namespace: connections in, and host-service listeners.
//!
//! A short-lived helper thread enters the namespace with `setns` and creates
//! the socket there; a socket stays in the namespace it was created in, so a
//! stream talks to the sandbox's loopback and a listener takes the sandbox's
//! connections to `127.0.0.1:port`. No ports are published and no addresses are
//! allocated. The thread exits afterwards, so no other work ever runs inside
//! the namespace.

use std::fs::File;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::time::Duration;

use crate::{Result, SandboxError};

/// Runs `make` on a thread that has entered the network namespace of `init_pid`.
fn inside<T: Send + 'static>(
    init_pid: i32,
    make: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T> {
    let ns = File::open(format!("/proc/{init_pid}/ns/net"))
        .map_err(|e| SandboxError::NotRunning(format!("(its network namespace is gone: {e})")))?;
    Ok(std::thread::spawn(move || -> std::io::Result<T> {
        rustix::thread::move_into_link_name_space(
            std::os::fd::AsFd::as_fd(&ns),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )?;
        make()
    })
    .join()
    .map_err(|_| SandboxError::Internal("the namespace helper thread panicked".into()))??)
}

pub fn connect(init_pid: i32, port: u16) -> Result<tokio::net::TcpStream> {
    let stream = inside(init_pid, move || {
        TcpStream::connect_timeout(&(Ipv4Addr::LOCALHOST, port).into(), Duration::from_secs(5))
    })?;
    // Requests and WebSocket frames are small and latency-bound.
    stream.set_nodelay(true)?;
    stream.set_nonblocking(true)?;
    Ok(tokio::net::TcpStream::from_std(stream)?)
}

pub fn listen(init_pid: i32, port: u16) -> Result<tokio::net::TcpListener> {
    let listener = inside(init_pid, move || TcpListener::bind((Ipv4Addr::LOCALHOST, port)))
        .map_err(|e| match e {
            SandboxError::Io(io) if io.kind() == std::io::ErrorKind::AddrInUse => {
                SandboxError::InvalidSpec(format!(
                    "port {port} inside the sandbox is taken: a host service needs a port the sandbox's own programs leave free"
                ))
            }
            other => other,
        })?;
    listener.set_nonblocking(true)?;
    Ok(tokio::net::TcpListener::from_std(listener)?)
}

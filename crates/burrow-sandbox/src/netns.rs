//! TCP connections opened from the host into a sandbox's network namespace.
//!
//! A short-lived helper thread enters the namespace with `setns` and creates
//! the socket there; a socket stays in the namespace it was created in, so the
//! returned stream talks to the sandbox's loopback. No ports are published and
//! no addresses are allocated. The thread exits afterwards, so no other work
//! ever runs inside the namespace.

use std::fs::File;
use std::net::{Ipv4Addr, TcpStream};
use std::time::Duration;

use crate::{Result, SandboxError};

pub fn connect(init_pid: i32, port: u16) -> Result<tokio::net::TcpStream> {
    let ns = File::open(format!("/proc/{init_pid}/ns/net"))
        .map_err(|e| SandboxError::NotRunning(format!("(its network namespace is gone: {e})")))?;
    let stream = std::thread::spawn(move || -> std::io::Result<TcpStream> {
        rustix::thread::move_into_link_name_space(
            std::os::fd::AsFd::as_fd(&ns),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )?;
        TcpStream::connect_timeout(&(Ipv4Addr::LOCALHOST, port).into(), Duration::from_secs(5))
    })
    .join()
    .map_err(|_| SandboxError::Internal("the namespace helper thread panicked".into()))??;
    stream.set_nonblocking(true)?;
    Ok(tokio::net::TcpStream::from_std(stream)?)
}

//! The seccomp allowlist, modelled on Docker's default profile but stricter.
//!
//! Everything not listed fails with `EPERM`. Compared with Docker's profile,
//! `ptrace`, `process_vm_*`, `io_uring_*`, `pidfd_getfd` and `fanotify_*` are
//! not allowed at all, and `ioctl(TIOCSTI)` / `ioctl(TIOCLINUX)` are refused
//! even though `ioctl` is otherwise allowed.

use serde_json::{json, Value};

/// System calls any unprivileged program may need.
const ALLOWED: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "alarm",
    "arch_prctl",
    "bind",
    "brk",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "clock_getres",
    "clock_gettime",
    "clock_nanosleep",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fallocate",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchownat",
    "fcntl",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstatfs",
    "fsync",
    "ftruncate",
    "futex",
    "futex_waitv",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "geteuid",
    "getgid",
    "getgroups",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresuid",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "gettid",
    "gettimeofday",
    "getuid",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "kill",
    "lchown",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "madvise",
    "membarrier",
    "memfd_create",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedsend",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "pselect6",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recvfrom",
    "recvmmsg",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "sendfile",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsuid",
    "setgid",
    "setgroups",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setresgid",
    "setresuid",
    "setreuid",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_tid_address",
    "setuid",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "splice",
    "stat",
    "statfs",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_settime",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_settime",
    "times",
    "tkill",
    "truncate",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "write",
    "writev",
];

/// Namespace flags that `clone` may not carry: a sandbox makes no namespaces.
const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;
/// ioctls that push input into, or take over, a terminal.
const TIOCSTI: u64 = 0x5412;
const TIOCLINUX: u64 = 0x541C;
const EPERM: u32 = 1;
const AF_UNIX: u64 = 1;
/// AF_UNIX, AF_INET, AF_INET6 and AF_NETLINK.
const SOCKET_FAMILIES: [u64; 4] = [AF_UNIX, 2, 10, 16];
const ENOSYS: u32 = 38;

/// ALLOW rules for `ioctl` whose union is every request except `forbidden`.
///
/// libseccomp lets an unconditional ALLOW win over a conditional ERRNO for the
/// same call, so the exception is built from ALLOW rules alone. The kernel
/// reads the request as 32 bits, so every comparison masks the upper half
/// away: `ioctl(fd, 0x1_0000_5412)` is refused like `0x5412`.
///
/// Let `common` be the bits on which all forbidden requests agree. A request
/// that differs from them in any such bit is allowed (one rule per bit); the
/// few requests that agree on all of them are listed one by one, minus the
/// forbidden ones.
fn ioctl_rules_except(forbidden: &[u64]) -> Vec<Value> {
    let low = 0xffff_ffffu64;
    let first = forbidden[0] & low;
    let varying = forbidden
        .iter()
        .fold(0u64, |acc, f| acc | ((f & low) ^ first));
    let common_mask = low & !varying;
    let common_value = first & common_mask;
    let rule = |mask: u64, value: u64| {
        json!({"names": ["ioctl"], "action": "SCMP_ACT_ALLOW",
               "args": [{"index": 1, "value": mask, "valueTwo": value, "op": "SCMP_CMP_MASKED_EQ"}]})
    };
    let mut rules: Vec<Value> = (0..32)
        .map(|bit| 1u64 << bit)
        .filter(|b| common_mask & b != 0)
        .map(|b| rule(b, !common_value & b))
        .collect();
    let varying_bits: Vec<u64> = (0..32)
        .map(|bit| 1u64 << bit)
        .filter(|b| varying & b != 0)
        .collect();
    for combination in 0..(1u64 << varying_bits.len()) {
        let candidate = varying_bits
            .iter()
            .enumerate()
            .filter(|(i, _)| combination & (1 << i) != 0)
            .fold(common_value, |acc, (_, b)| acc | b);
        if !forbidden.iter().any(|f| f & low == candidate) {
            rules.push(rule(low, candidate));
        }
    }
    rules
}

/// The OCI `linux.seccomp` object.
pub fn profile() -> Value {
    let mut syscalls = vec![
        json!({"names": ALLOWED, "action": "SCMP_ACT_ALLOW"}),
        // clone without namespace flags; clone3 hides its flags in memory that
        // seccomp cannot read, so it answers ENOSYS and libc falls back to clone.
        json!({"names": ["clone"], "action": "SCMP_ACT_ALLOW",
               "args": [{"index": 0, "value": CLONE_NAMESPACE_FLAGS, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}),
        json!({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS}),
        // personality values that do not disable protections, as Docker allows.
        json!({"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]}),
        json!({"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}),
        json!({"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 0xffff_ffffu64, "op": "SCMP_CMP_EQ"}]}),
    ];
    syscalls.extend(ioctl_rules_except(&[TIOCSTI, TIOCLINUX]));
    // Sockets only of the families programs need. AF_VSOCK in particular reaches
    // the hypervisor and host services that no network namespace covers.
    for family in SOCKET_FAMILIES {
        syscalls.push(json!({"names": ["socket"], "action": "SCMP_ACT_ALLOW",
                             "args": [{"index": 0, "value": family, "op": "SCMP_CMP_EQ"}]}));
    }
    syscalls.push(json!({"names": ["socketpair"], "action": "SCMP_ACT_ALLOW",
                         "args": [{"index": 0, "value": AF_UNIX, "op": "SCMP_CMP_EQ"}]}));
    json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": EPERM,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": syscalls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dangerous_calls_are_not_allowed() {
        let blocked = [
            "keyctl",
            "add_key",
            "request_key",
            "bpf",
            "perf_event_open",
            "userfaultfd",
            "mount",
            "umount2",
            "unshare",
            "setns",
            "ptrace",
            "process_vm_readv",
            "process_vm_writev",
            "kexec_load",
            "kexec_file_load",
            "init_module",
            "finit_module",
            "delete_module",
            "io_uring_setup",
            "io_uring_enter",
            "io_uring_register",
            "open_by_handle_at",
            "pivot_root",
            "chroot",
            "reboot",
            "swapon",
            "syslog",
            "pidfd_getfd",
        ];
        for name in blocked {
            assert!(!ALLOWED.contains(&name), "{name} must not be allowed");
        }
        let profile = profile();
        assert!(!profile.to_string().contains("\"keyctl\""));
    }

    /// Evaluates the ALLOW rules the way seccomp does: any matching rule allows.
    fn ioctl_allowed(rules: &[Value], request: u64) -> bool {
        rules.iter().any(|r| {
            let arg = &r["args"][0];
            let (mask, value) = (
                arg["value"].as_u64().unwrap(),
                arg["valueTwo"].as_u64().unwrap(),
            );
            request & mask == value
        })
    }

    #[test]
    fn ioctl_allows_everything_but_terminal_injection() {
        let rules = ioctl_rules_except(&[TIOCSTI, TIOCLINUX]);
        for request in [TIOCSTI, TIOCLINUX, 0x1_0000_5412, 0xffff_ffff_0000_541c] {
            assert!(
                !ioctl_allowed(&rules, request),
                "{request:#x} must be refused"
            );
        }
        // TCGETS, TIOCGWINSZ, TIOCSWINSZ, FIONREAD, FIONBIO and their neighbours.
        for request in [
            0x5401,
            0x5413,
            0x5414,
            0x541b,
            0x5421,
            0x5410,
            0x5416,
            0x541e,
            0x8004_5430,
            0xc004_5401,
        ] {
            assert!(
                ioctl_allowed(&rules, request),
                "{request:#x} must be allowed"
            );
        }
        for request in 0x5400..0x5500u64 {
            assert_eq!(
                ioctl_allowed(&rules, request),
                request != TIOCSTI && request != TIOCLINUX,
                "{request:#x}"
            );
        }
    }

    #[test]
    fn the_profile_is_a_valid_oci_seccomp_object() {
        let parsed: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(profile()).unwrap();
        assert_eq!(
            parsed.default_action(),
            oci_spec::runtime::LinuxSeccompAction::ScmpActErrno
        );
    }
}

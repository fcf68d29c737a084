//! `bench_time FILE PROGRAM [ARGS...]`: runs PROGRAM like `/usr/bin/time -f
//! '%e %U %S %M' -o FILE` does, but writes the CPU times in microseconds
//! rather than GNU time's 10 ms steps (a whole xmpp-auth session takes less
//! than 10 ms of CPU). FILE gets one line: wall seconds, user seconds,
//! system seconds, peak RSS in KiB (of PROGRAM and the children it waited
//! for, as wait4(2) reports them). Exits with PROGRAM's status (128 + the
//! signal that killed it). `bench/run` wraps each process it measures in it.
//!
//! The program inherits every file descriptor, so it can sit inside a UCSPI
//! chain: `xmpp-connect HOST bench_time F xmpp-auth ...` (fds 6 and 7).

use std::os::raw::{c_int, c_long};
use std::process::{Command, ExitCode};
use std::time::Instant;

/// `struct timeval` of Linux.
#[repr(C)]
#[derive(Default)]
struct Timeval {
    sec: c_long,
    usec: c_long,
}

/// `struct rusage` of Linux: two timevals and fourteen longs.
#[repr(C)]
#[derive(Default)]
struct Rusage {
    utime: Timeval,
    stime: Timeval,
    maxrss: c_long,
    rest: [c_long; 13],
}

extern "C" {
    fn wait4(pid: c_int, status: *mut c_int, options: c_int, rusage: *mut Rusage) -> c_int;
}

fn seconds(t: &Timeval) -> f64 {
    t.sec as f64 + t.usec as f64 / 1e6
}

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: bench_time FILE PROGRAM [ARGS...]");
        return ExitCode::from(64);
    }
    let started = Instant::now();
    let child = match Command::new(&args[1]).args(&args[2..]).spawn() {
        Ok(child) => child,
        Err(e) => {
            eprintln!("bench_time: cannot run {}: {e}", args[1].to_string_lossy());
            return ExitCode::from(127);
        }
    };
    let pid = child.id() as c_int;
    let (mut status, mut usage) = (0, Rusage::default());
    loop {
        // SAFETY: wait4 with pointers to live, properly laid out values.
        let got = unsafe { wait4(pid, &mut status, 0, &mut usage) };
        if got == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            eprintln!("bench_time: wait4: {err}");
            return ExitCode::from(70);
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let line = format!(
        "{wall:.6} {:.6} {:.6} {}\n",
        seconds(&usage.utime),
        seconds(&usage.stime),
        usage.maxrss
    );
    if let Err(e) = std::fs::write(&args[0], line) {
        eprintln!(
            "bench_time: cannot write {}: {e}",
            args[0].to_string_lossy()
        );
    }
    // The status as a shell reports it.
    let code = if status & 0x7f == 0 {
        (status >> 8) & 0xff
    } else {
        128 + (status & 0x7f)
    };
    ExitCode::from(code as u8)
}

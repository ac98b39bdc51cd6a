// Gives the shared library the SONAME libmxkv.so.<major>, so that installs can keep the
// usual libmxkv.so -> libmxkv.so.0 -> libmxkv.so.0.1.0 links; with the distributed engine,
// reads MPI_IN_PLACE from the MPI library's header.
fn main() {
    // It reads nothing but cargo's variables and MPI's header: changes elsewhere in the tree
    // (perl-shim/, python/) need not rerun it and recompile the crate.
    println!("cargo:rerun-if-changed=build.rs");
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets the version");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libmxkv.so.{major}");
    }
    if std::env::var_os("CARGO_FEATURE_DIST").is_some() {
        if let Some(marker) = mpi_in_place() {
            println!("cargo:rustc-env=MXKV_MPI_IN_PLACE={marker}");
        }
    }
}

/// The address MPI_IN_PLACE stands for (a C macro the `mpi` crate does not carry: Open
/// MPI's is 1, MPICH's -1), from MPI's compiler wrapper; `None` without one, and the
/// engine then allreduces into a second buffer.
fn mpi_in_place() -> Option<i64> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    println!("cargo:rerun-if-env-changed=MPICC");
    let mpicc = std::env::var("MPICC").unwrap_or_else(|_| "mpicc".into());
    let mut cpp = Command::new(mpicc)
        .args(["-E", "-x", "c", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    cpp.stdin
        .take()?
        .write_all(b"#include <mpi.h>\nmxkv_in_place MPI_IN_PLACE\n")
        .ok()?;
    let out = cpp.wait_with_output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    // `mxkv_in_place ((void *) 1)` (or `-1`): the number after the cast.
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("mxkv_in_place "))?;
    let number = line.rsplit(')').nth(1)?.trim();
    let number = number.trim_start_matches('(').trim();
    number.parse().ok()
}

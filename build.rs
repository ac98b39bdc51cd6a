// Gives the shared library the SONAME libmxkv.so.<major>, so that installs can keep the
// usual libmxkv.so -> libmxkv.so.0 -> libmxkv.so.0.1.0 links.
fn main() {
    // It reads nothing but cargo's variables: changes elsewhere in the tree (perl-shim/, python/)
    // need not rerun it and recompile the crate.
    println!("cargo:rerun-if-changed=build.rs");
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets the version");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libmxkv.so.{major}");
    }
}

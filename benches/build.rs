//! Sets the platform `cfg` aliases (`has_kqueue`, `kernel_kqueue`, ...)
//! described in `platform.rs`.

#[path = "platform.rs"]
mod platform;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    platform::Platform::detect().emit_aliases();
}

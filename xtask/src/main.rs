//! Project automation.
#![forbid(unsafe_code)]

fn main() {
    eprintln!("xtask: not implemented yet");
    std::process::exit(1);
}

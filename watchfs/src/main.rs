//! The watchfs command-line tool.
#![forbid(unsafe_code)]

fn main() {
    eprintln!("watchfs: not implemented yet");
    std::process::exit(1);
}

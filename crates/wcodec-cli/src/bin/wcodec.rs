//! `wcodec`: encode, decode, verify, inspect and benchmark `.wcodec` files; see `wcodec --help`.

fn main() {
    std::process::exit(wcodec_cli::run(std::env::args_os()));
}

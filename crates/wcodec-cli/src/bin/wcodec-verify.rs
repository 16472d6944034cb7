//! `wcodec-verify`: see `wcodec-verify --help`.

fn main() {
    std::process::exit(wcodec_cli::run_verify(std::env::args_os()));
}

//! `wcodec-encode`: see `wcodec-encode --help`.

fn main() {
    std::process::exit(wcodec_cli::run_encode(std::env::args_os()));
}

//! `wcodec-decode`: see `wcodec-decode --help`.

fn main() {
    std::process::exit(wcodec_cli::run_decode(std::env::args_os()));
}

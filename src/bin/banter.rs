//! `banter`: the bundled terminal chat client. See `banter --help` and
//! docs/client.md; the code lives in `banter::client`.

fn main() {
    std::process::exit(banter::client::main());
}

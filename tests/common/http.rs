//! Scraping `/metrics` over HTTP/1.1 from a test server.

use super::{Server, WAIT};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::time::Instant;

/// The port of the first log line that says `prefix` then `127.0.0.1:PORT`.
pub fn logged_port(s: &Server, prefix: &str) -> u16 {
    let deadline = Instant::now() + WAIT;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let line = s.log.recv_timeout(left).expect("log line");
        if let Some(rest) = line.split(&format!("{prefix}127.0.0.1:")).nth(1) {
            return rest.chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap();
        }
    }
    panic!("no log line with {prefix}");
}

/// GET `path` over HTTP/1.1: the status line, the headers and the body.
pub fn get(port: u16, path: &str) -> (String, String) {
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    write!(tcp, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    (head.to_owned(), body.to_owned())
}

/// Every sample of a scrape: `name{labels}` → value.
pub fn scrape(port: u16) -> HashMap<String, f64> {
    let (head, body) = get(port, "/metrics");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("application/openmetrics-text"), "{head}");
    assert!(body.ends_with("# EOF\n"), "{body}");
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').unwrap();
            (name.to_owned(), value.parse().unwrap_or_else(|_| panic!("{l}")))
        })
        .collect()
}

/// The value of the sample `name` (with its labels) in a scrape.
pub fn value(m: &HashMap<String, f64>, name: &str) -> f64 {
    *m.get(name).unwrap_or_else(|| panic!("{name} missing from {:#?}", m.keys().collect::<Vec<_>>()))
}

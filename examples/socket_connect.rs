//! socket + connect + sendto + recvfrom + close as one chain, against a loopback
//! echo listener this example starts itself.
//!
//! ```text
//! cargo run --example socket_connect
//! ```

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::ExitCode;

use syslets::opcode::{Close, Connect, Recvfrom, Sendto, Socket};
use syslets::{ByteLen, Chain, Policy, Stop};

fn main() -> ExitCode {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback listener");
    let addr = listener.local_addr().unwrap();
    println!("echo listener on {addr}");
    let echo = std::thread::spawn(move || {
        let (mut conn, peer) = listener.accept().expect("accept");
        let mut buf = [0u8; 256];
        let n = conn.read(&mut buf).expect("read");
        conn.write_all(&buf[..n]).expect("echo");
        (peer, n)
    });

    let message = b"hello from a syslet chain";
    let mut chain = Chain::new();
    let sa = chain.sockaddr(addr);
    let out = chain.input(message);
    let reply = chain.output_bytes(256);
    let sock = chain.push(
        Socket::new(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC).stop_on(Stop::NEGATIVE),
    );
    // v6 branching: if connect fails (stop condition + SKIP_TO_NEXT_ON_STOP) the
    // chain falls through to atom 2, which closes the socket and ends the chain;
    // on success normal flow jumps over it to the send.
    let connect = chain.push(
        Connect::new(sock, sa)
            .stop_on(Stop::NEGATIVE)
            .skip_to_next_on_stop(),
    );
    let close_on_error = chain.push(Close::new(sock));
    let send = chain.push(Sendto::new(sock, out));
    // Receive exactly as many bytes as were sent (the result of the send atom).
    let recv = chain.push(
        Recvfrom::new(sock, reply)
            .len(ByteLen::ResultOf(send))
            .flags(libc::MSG_WAITALL as u32),
    );
    let close = chain.push(Close::new(sock));
    chain.jump(connect, send).end_after(close_on_error);

    let mut batch = chain.prepare(&Policy::default()).expect("valid chain");
    let done = *batch.run();
    let names = [
        "socket",
        "connect",
        "close (on error)",
        "sendto",
        "recvfrom",
        "close",
    ];
    let atoms = [sock, connect, close_on_error, send, recv, close];
    for (atom, name) in atoms.into_iter().zip(names) {
        match done.outcome(atom) {
            Some(Ok(v)) => println!("atom {} {name:<16} -> {v}", atom.index()),
            Some(Err(e)) => println!("atom {} {name:<16} -> {e}", atom.index()),
            None => println!("atom {} {name:<16} -> (not run)", atom.index()),
        }
    }
    let (peer, echoed) = echo.join().expect("echo thread");
    println!("listener saw {peer} and echoed {echoed} bytes");
    let got = done.result(recv).unwrap_or(-1);
    let text = &batch.bytes(reply)[..got.max(0) as usize];
    println!("received: {:?}", String::from_utf8_lossy(text));
    if text != message || done.result(close) != Some(0) {
        eprintln!("the echo did not come back intact");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

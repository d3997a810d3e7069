//! The stdio transport: `Content-Length` frames of JSON-RPC messages.
//!
//! `lsp-server`'s own stdio reader stops at the first malformed frame. This one
//! reports a frame that is not UTF-8 JSON (as a [`TRANSPORT_ERROR`]
//! notification, which the server turns into a `window/logMessage` error) and
//! reads on, so a misbehaving client cannot end the session; only the end of
//! the input or a broken header line stops it.

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use lsp_server::{Message, Notification};
use std::io::{BufRead, Read, Write};
use std::thread;

/// The method of the notification the reader sends the server about a bad frame.
pub const TRANSPORT_ERROR: &str = "seg/transportError";

/// Largest message accepted; larger frames are skipped and reported.
const MAX_FRAME: usize = 256 * 1024 * 1024;

/// The writer thread over stdout: join it once every sender is dropped, so
/// that the last messages are written. (The reader stays blocked on stdin
/// until the process ends.)
pub struct Writer(thread::JoinHandle<()>);

impl Writer {
    pub fn join(self) {
        let _ = self.0.join();
    }
}

pub fn stdio() -> (Sender<Message>, Receiver<Message>, Writer) {
    let (to_client, outgoing) = unbounded::<Message>();
    let (incoming, from_client) = bounded::<Message>(64);
    let writer = thread::spawn(move || {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        for msg in outgoing {
            if msg.write(&mut out).is_err() || out.flush().is_err() {
                break;
            }
        }
    });
    thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        read_frames(&mut input, &incoming);
    });
    (to_client, from_client, Writer(writer))
}

/// Read frames until the input ends; each good one goes to `incoming`.
pub fn read_frames(input: &mut impl BufRead, incoming: &Sender<Message>) {
    loop {
        let len = match header(input) {
            Ok(Some(len)) => len,
            Ok(None) => return,
            Err(e) => {
                report(incoming, &format!("unreadable message header: {e}"));
                return;
            }
        };
        if len > MAX_FRAME {
            report(incoming, &format!("a message of {len} bytes was skipped"));
            if std::io::copy(&mut input.take(len as u64), &mut std::io::sink()).is_err() {
                return;
            }
            continue;
        }
        let mut body = vec![0; len];
        if input.read_exact(&mut body).is_err() {
            return;
        }
        let msg = std::str::from_utf8(&body)
            .map_err(|e| format!("a message is not UTF-8 ({e}); it was ignored"))
            .and_then(|text| {
                serde_json::from_str::<Message>(text)
                    .map_err(|e| format!("a message is not JSON-RPC ({e}); it was ignored"))
            });
        match msg {
            Ok(m) => {
                if incoming.send(m).is_err() {
                    return;
                }
            }
            Err(e) => report(incoming, &e),
        }
    }
}

/// The `Content-Length` of the next frame; `None` at the end of the input.
fn header(input: &mut impl BufRead) -> std::io::Result<Option<usize>> {
    let mut len = None;
    let mut line = Vec::new();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(None);
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim();
        if text.is_empty() {
            if len.is_some() {
                return Ok(len);
            }
            continue;
        }
        if let Some((name, value)) = text.split_once(':')
            && name.trim().eq_ignore_ascii_case("content-length")
        {
            len = value.trim().parse::<usize>().ok();
            if len.is_none() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("bad Content-Length `{}`", value.trim()),
                ));
            }
        }
    }
}

fn report(incoming: &Sender<Message>, text: &str) {
    let params = serde_json::json!({ "message": format!("seg lsp: {text}") });
    let _ = incoming.send(Message::Notification(Notification::new(
        TRANSPORT_ERROR.into(),
        params,
    )));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_frame_is_reported_and_the_next_one_read() {
        let good = r#"{"jsonrpc":"2.0","method":"exit"}"#;
        let mut input = Vec::new();
        input.extend_from_slice(b"Content-Length: 4\r\n\r\n\xff\xfe{}");
        input.extend_from_slice(format!("Content-Length: {}\r\n\r\n{good}", good.len()).as_bytes());
        let (tx, rx) = unbounded();
        read_frames(&mut std::io::Cursor::new(input), &tx);
        assert!(
            matches!(rx.try_recv(), Ok(Message::Notification(n)) if n.method == TRANSPORT_ERROR)
        );
        assert!(matches!(rx.try_recv(), Ok(Message::Notification(n)) if n.method == "exit"));
    }
}

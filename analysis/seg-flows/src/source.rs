//! Inputs: paths, globs, directories and `-`; opening them with gzip
//! detected by its magic bytes, never by the file name.

use crate::error::FlowError;
use flate2::read::MultiGzDecoder;
use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// One input to read, as resolved from the command line.
#[derive(Clone, Debug)]
pub(crate) struct Input {
    /// As shown to the user: the argument, or the path a glob or directory gave.
    pub name: Arc<str>,
    /// `None` for standard input.
    pub path: Option<PathBuf>,
}

/// Resolve the inputs in order: `-` is standard input (at most once), an
/// existing file is itself, a directory is every file under it, anything
/// else with `*?[{` is a glob (matches sorted). A glob or path that gives no
/// file is an error: an audit over nothing would report every rule unused.
pub(crate) fn resolve(inputs: &[String]) -> Result<Vec<Input>, FlowError> {
    let mut out = Vec::new();
    let mut stdin = false;
    for arg in inputs {
        if arg == "-" {
            if stdin {
                return Err(unreadable(arg, "standard input (`-`) is given twice"));
            }
            stdin = true;
            out.push(Input {
                name: Arc::from("-"),
                path: None,
            });
            continue;
        }
        let path = Path::new(arg);
        let found = if path.is_dir() {
            let mut files = Vec::new();
            walk(path, &mut files).map_err(|e| unreadable(arg, &e.to_string()))?;
            files.sort();
            files
        } else if path.exists() || !arg.contains(['*', '?', '[', '{']) {
            vec![path.to_path_buf()]
        } else {
            glob(arg)?
        };
        if found.is_empty() {
            let what = if path.is_dir() {
                "the directory holds no file"
            } else {
                "the pattern matches no file"
            };
            return Err(unreadable(arg, what));
        }
        out.extend(found.into_iter().map(|p| Input {
            name: Arc::from(p.to_string_lossy().as_ref()),
            path: Some(p),
        }));
    }
    if out.is_empty() {
        return Err(unreadable("", "no flow-log input given"));
    }
    Ok(out)
}

fn unreadable(file: &str, message: &str) -> FlowError {
    FlowError::Unreadable {
        file: Arc::from(file),
        message: message.to_string(),
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if path.is_file() {
            out.push(path);
        }
    }
    Ok(())
}

/// Expand a glob: walk from the longest leading part without metacharacters.
fn glob(pattern: &str) -> Result<Vec<PathBuf>, FlowError> {
    let matcher = globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map_err(|e| unreadable(pattern, &format!("invalid glob: {e}")))?
        .compile_matcher();
    let mut base = PathBuf::new();
    for part in Path::new(pattern).components() {
        let s = part.as_os_str().to_string_lossy();
        if s.contains(['*', '?', '[', '{']) {
            break;
        }
        base.push(part);
    }
    let root = if base.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base.clone()
    };
    let mut files = Vec::new();
    if root.is_dir() {
        walk(&root, &mut files).map_err(|e| unreadable(pattern, &e.to_string()))?;
    }
    let mut found: Vec<PathBuf> = files
        .into_iter()
        .map(|p| {
            // Match on the path as the user wrote it (no leading `./` added).
            if base.as_os_str().is_empty() {
                p.strip_prefix(".").map(Path::to_path_buf).unwrap_or(p)
            } else {
                p
            }
        })
        .filter(|p| matcher.is_match(p))
        .collect();
    found.sort();
    Ok(found)
}

/// An opened input, decompressed, with its first bytes available for
/// detection without consuming them.
pub(crate) struct Opened {
    pub reader: Box<dyn Read + Send>,
    /// The first bytes of the (decompressed) content, at most [`PEEK`].
    pub head: Vec<u8>,
    pub gzip: bool,
}

/// How much content detection may look at.
pub(crate) const PEEK: usize = 64 * 1024;

/// Open an input: the file or standard input, through a gzip decoder when
/// its first two bytes are the gzip magic (concatenated members are read
/// as one stream, as `zcat` does).
pub(crate) fn open(input: &Input) -> Result<Opened, FlowError> {
    let raw: Box<dyn Read + Send> = match &input.path {
        None => Box::new(io::stdin()),
        Some(p) => Box::new(File::open(p).map_err(|e| FlowError::Unreadable {
            file: input.name.clone(),
            message: e.to_string(),
        })?),
    };
    from_reader(&input.name, raw)
}

/// As [`open`], for any byte stream.
pub(crate) fn from_reader(name: &Arc<str>, raw: Box<dyn Read + Send>) -> Result<Opened, FlowError> {
    let (magic, raw) = peek(raw, 2).map_err(|e| FlowError::read(name, false, &e))?;
    let gzip = magic == [0x1f, 0x8b];
    let content: Box<dyn Read + Send> = if gzip {
        Box::new(Inflating::spawn(MultiGzDecoder::new(
            io::BufReader::with_capacity(256 * 1024, raw),
        )))
    } else {
        raw
    };
    let (head, reader) = peek(content, PEEK).map_err(|e| FlowError::read(name, gzip, &e))?;
    Ok(Opened { reader, head, gzip })
}

/// Read up to `n` bytes (fewer only at the end of the stream) and give back
/// a reader that yields them again, then the rest.
fn peek(mut r: Box<dyn Read + Send>, n: usize) -> io::Result<(Vec<u8>, Box<dyn Read + Send>)> {
    let mut head = vec![0; n];
    let mut got = 0;
    while got < n {
        match r.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    head.truncate(got);
    let again = Cursor::new(head.clone()).chain(r);
    Ok((head, Box::new(again)))
}

/// A gzip stream inflated on a thread of its own, read in blocks: inflating
/// costs about as much as parsing the records, so the two run on two cores.
/// Blocks go back to the inflating thread to be refilled (no allocation per
/// block). Dropping the reader ends the thread at its next block.
struct Inflating {
    blocks: Receiver<io::Result<Vec<u8>>>,
    spent: SyncSender<Vec<u8>>,
    block: Vec<u8>,
    pos: usize,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The size of a block of inflated content.
const BLOCK: usize = 256 * 1024;

impl Inflating {
    fn spawn(mut src: impl Read + Send + 'static) -> Inflating {
        let (tx, blocks) = sync_channel::<io::Result<Vec<u8>>>(2);
        let (spent, reuse) = sync_channel::<Vec<u8>>(4);
        let thread = std::thread::spawn(move || {
            loop {
                let mut block = reuse.try_recv().unwrap_or_default();
                block.resize(BLOCK, 0);
                let mut filled = 0;
                while filled < BLOCK {
                    match crate::lines::read_some(&mut src, &mut block[filled..]) {
                        Ok(0) => break,
                        Ok(n) => filled += n,
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    }
                }
                block.truncate(filled);
                if filled == 0 || tx.send(Ok(block)).is_err() {
                    return;
                }
            }
        });
        Inflating {
            blocks,
            spent,
            block: Vec::new(),
            pos: 0,
            thread: Some(thread),
        }
    }
}

impl Read for Inflating {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.block.len() {
            match self.blocks.recv() {
                Ok(Ok(next)) => {
                    let old = std::mem::replace(&mut self.block, next);
                    let _ = self.spent.try_send(old);
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                // The thread ended: at the end of the stream, or by a panic
                // (which must not pass for the end of the data).
                Err(_) => {
                    if let Some(t) = self.thread.take()
                        && t.join().is_err()
                    {
                        return Err(io::Error::other("the gzip decoder stopped unexpectedly"));
                    }
                    return Ok(0);
                }
            }
        }
        let n = buf.len().min(self.block.len() - self.pos);
        buf[..n].copy_from_slice(&self.block[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

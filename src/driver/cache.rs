//! The compiled-program cache: `seg reach` and `seg graph` only read the
//! checked program, and a user runs them again and again on a project that
//! has not changed. Compiling a 50k-identity estate takes over a second; the
//! analysis a tenth of that. So those commands keep the checked compilation
//! in `<project>/.seg/cache/program` and reuse it while nothing it was made
//! from has changed (docs/cli.md, "The compiled-program cache").
//!
//! An entry is reused only when all of these are as they were:
//! - the seg executable (path, size, modification time, inode and its change
//!   time, version): a cache written by another build of seg is never read;
//! - "now" (`--now`, `SOURCE_DATE_EPOCH` or the clock) within the span of
//!   instants at which the compilation comes out the same: the checker reads
//!   now only through [`seg_ir::Now`], which records that span (up to the
//!   next expiry, review date, address window bound..., a day when a
//!   message names the date, a second when one prints the instant);
//! - every file the compilation read (seg.toml, sources and the files they
//!   import, inventories), by BLAKE3 hash of its bytes;
//! - the files the source and inventory globs match (a new or deleted file).
//!
//! The file is a magic line, the length of a header, the header (all of the
//! above, and the length and hash of each part of the body), then the body
//! in two parts: the main part (the program but for the identities'
//! attributes, labels and bindings, the outline, the critical identities, the
//! diagnostics and the source map's files, with every text but the
//! inventory's unless a diagnostic points into it) and those identity
//! details, which a command decodes only when it reads them ([`Read`],
//! [`parts`]). Anything unexpected (another format, a short or corrupt file,
//! a hash that differs) is a miss: the command compiles, never fails because
//! of the cache.

pub mod classes;
mod parts;

pub use parts::Read;

use super::{Compilation, Input, project, replace_file};
use parts::{Details, DetailsRef, ProgramMain, ProgramRef};
use seg_check::Outline;
use seg_diag::{Diagnostic, Diagnostics, FileId, SourceMap};
use seg_ir::{IdentityId, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Changes whenever the layout of the file changes.
const MAGIC: &[u8; 16] = b"seg cache v3\n\0\0\0";

/// The folder, relative to the project.
pub const DIR: &str = ".seg/cache";

/// The one entry (overwritten by each miss: the cache never grows).
const ENTRY: &str = "program";

/// Why the cache was not used; `-v` prints it.
#[derive(Debug)]
pub struct Miss(pub String);

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct Executable {
    path: String,
    len: u64,
    modified: (u64, u32),
    inode: (u64, u64, i64, i64),
    version: String,
}

#[derive(Serialize, Deserialize)]
struct InputFile {
    name: String,
    hash: [u8; 32],
}

/// A glob of `seg.toml` and what it matched.
#[derive(Serialize, Deserialize)]
struct Glob {
    patterns: Vec<String>,
    matched: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    exe: Executable,
    /// [`Compilation::now_span`]: where "now" may be for a reuse.
    now_from: Option<i64>,
    now_until: Option<i64>,
    inputs: Vec<InputFile>,
    globs: Vec<Glob>,
    /// The main part of the body: its length and hash.
    main_len: u64,
    main_hash: [u8; 32],
    /// The identity details, after it: the hash.
    details_hash: [u8; 32],
}

/// The main part of the cached [`Compilation`], as written.
#[derive(Serialize)]
struct BodyRef<'a> {
    files: Vec<(&'a str, Option<&'a str>)>,
    manifest: u32,
    program: ProgramRef<'a>,
    outline: &'a Outline,
    critical: &'a [IdentityId],
    diags: &'a [Diagnostic],
}

/// [`BodyRef`] as read (the same fields in the same order).
#[derive(Deserialize)]
struct Body {
    files: Vec<(String, Option<String>)>,
    manifest: u32,
    program: ProgramMain,
    outline: Outline,
    critical: Vec<IdentityId>,
    diags: Vec<Diagnostic>,
}

/// The cache file of a project, if the input is one (a single `.seg` file
/// with `--inventory` has no project folder to keep it in).
pub fn entry_path(input: &Input) -> Option<PathBuf> {
    match input {
        Input::Project(root) => Some(root.join(DIR).join(ENTRY)),
        Input::File { .. } => None,
    }
}

/// The compilation of `input` at `now` from the cache, when nothing it was
/// made from has changed; with as much of each identity as `read` says. And
/// what identifies the cached program: the hash of the entry's main part.
pub fn load(input: &Input, now: Timestamp, read: Read) -> Result<(Compilation, [u8; 32]), Miss> {
    let path = entry_path(input).ok_or_else(|| miss("a single file is not cached"))?;
    let mut file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(miss("no entry yet")),
        Err(e) => return Err(Miss(format!("cannot read the entry: {e}"))),
    };
    let (header, body_len) = read_header(&mut file)?;
    if header.exe != executable()? {
        return Err(miss("the entry was written by another seg executable"));
    }
    let inside =
        header.now_from.is_none_or(|f| f <= now.0) && header.now_until.is_none_or(|u| now.0 < u);
    if !inside {
        return Err(miss(
            "\"now\" has moved past an instant the compilation depends on",
        ));
    }
    let root = input.root();
    unchanged(&root, &header)?;
    let (body, details) = read_body(&mut file, &header, body_len, read)?;
    let comp = rebuild(
        input,
        body,
        details,
        now,
        (header.now_from, header.now_until),
    )?;
    Ok((comp, header.main_hash))
}

/// The header of an entry, and how many bytes of body follow it.
fn read_header(file: &mut std::fs::File) -> Result<(Header, u64), Miss> {
    use std::io::Read as _;
    let foreign = || miss("the entry is not a seg cache");
    let mut start = [0u8; MAGIC.len() + 4];
    file.read_exact(&mut start).map_err(|_| foreign())?;
    let (magic, len) = start.split_at(MAGIC.len());
    if magic != MAGIC.as_slice() {
        return Err(foreign());
    }
    let len = u32::from_le_bytes(len.try_into().map_err(|_| foreign())?);
    let size = file.metadata().map_err(|_| foreign())?.len();
    let body_len = size
        .checked_sub(start.len() as u64 + u64::from(len))
        .ok_or_else(foreign)?;
    let mut header = vec![0; len as usize];
    file.read_exact(&mut header).map_err(|_| foreign())?;
    let header: Header =
        postcard::from_bytes(&header).map_err(|_| miss("the entry's header is corrupt"))?;
    Ok((header, body_len))
}

/// Whether the files the compilation read, and those its globs match, are
/// as they were.
fn unchanged(root: &Path, header: &Header) -> Result<(), Miss> {
    for glob in &header.globs {
        let found = project::expand_globs(root, &glob.patterns, &[]).map_err(Miss)?;
        if found != glob.matched {
            return Err(Miss(format!(
                "the files matching `{}` changed",
                glob.patterns.join("`, `")
            )));
        }
    }
    for f in &header.inputs {
        let changed = || Miss(format!("`{}` changed", f.name));
        let file = std::fs::File::open(root.join(&f.name)).map_err(|_| changed())?;
        // Streamed: the inventory's megabytes are not held, only hashed.
        let mut h = blake3::Hasher::new();
        h.update_reader(file).map_err(|_| changed())?;
        if *h.finalize().as_bytes() != f.hash {
            return Err(changed());
        }
    }
    Ok(())
}

/// The body's main part and, when `read` asks for them, the identity
/// details; each read from the file only when decoded.
fn read_body(
    file: &mut std::fs::File,
    header: &Header,
    body_len: u64,
    read: Read,
) -> Result<(Body, Option<Vec<Details>>), Miss> {
    use std::io::Read as _;
    let corrupt = || miss("the entry's body is corrupt");
    if header.main_len > body_len {
        return Err(corrupt());
    }
    let main_len = usize::try_from(header.main_len).map_err(|_| corrupt())?;
    let mut main = vec![0; main_len];
    file.read_exact(&mut main).map_err(|_| corrupt())?;
    if *blake3::hash(&main).as_bytes() != header.main_hash {
        return Err(corrupt());
    }
    let body: Body = postcard::from_bytes(&main).map_err(|_| corrupt())?;
    drop(main);
    let details: Option<Vec<Details>> = match read {
        Read::Analysis => None,
        Read::Whole => {
            let mut details = Vec::new();
            file.read_to_end(&mut details).map_err(|_| corrupt())?;
            if *blake3::hash(&details).as_bytes() != header.details_hash {
                return Err(corrupt());
            }
            Some(postcard::from_bytes(&details).map_err(|_| corrupt())?)
        }
    };
    Ok((body, details))
}

/// A [`Compilation`] from a cached body: the manifest is parsed again from
/// its text (a few hundred bytes) rather than stored.
fn rebuild(
    input: &Input,
    body: Body,
    details: Option<Vec<Details>>,
    now: Timestamp,
    (from, until): (Option<i64>, Option<i64>),
) -> Result<Compilation, Miss> {
    let identity_details = details.is_some();
    let mut program =
        parts::join(body.program, details).ok_or_else(|| miss("the entry's body is corrupt"))?;
    // What a compilation at this instant holds that the checker did not read
    // (`Now::unread`): the build time, and the instant of inline tests that
    // name none.
    program.now = now;
    for test in &mut program.tests {
        for e in test.expectations.iter_mut().filter(|e| !e.at_given) {
            e.flow.at = now;
        }
    }
    let mut map = SourceMap::new();
    for (name, text) in body.files {
        map.add(name, text.unwrap_or_default());
    }
    let manifest_file = FileId(body.manifest);
    if map.get(manifest_file).is_none() {
        return Err(miss("the entry's body is corrupt"));
    }
    let mut scratch = Diagnostics::new();
    let manifest = seg_check::manifest::parse(manifest_file, map.text(manifest_file), &mut scratch)
        .ok_or_else(|| miss("seg.toml does not parse"))?;
    let mut diags = Diagnostics::new();
    diags.extend(body.diags);
    Ok(Compilation {
        input: input.clone(),
        root: input.root(),
        map,
        manifest: Some(manifest),
        program: Some(program),
        identity_details,
        inventory: None,
        outline: Some(body.outline),
        critical: body.critical,
        diags,
        inputs: Vec::new(),
        now_span: (from.map(Timestamp), until.map(Timestamp)),
    })
}

/// Keep a successful compilation of a project for the next run; `diags` are
/// its diagnostics as the checker left them (before lint levels apply).
/// Returns where it was written. Writes nothing, and says why, when the
/// project folder is read-only or the inputs changed while it compiled.
pub fn store(comp: &Compilation, diags: &[Diagnostic]) -> Result<PathBuf, Miss> {
    let path = entry_path(&comp.input).ok_or_else(|| miss("a single file is not cached"))?;
    let (Some(program), Some(outline), Some(manifest)) =
        (&comp.program, &comp.outline, &comp.manifest)
    else {
        return Err(miss("the compilation failed"));
    };
    if diags.iter().any(Diagnostic::is_error) {
        return Err(miss("the compilation failed"));
    }
    if !comp.identity_details {
        return Err(miss("the identities lack their details"));
    }
    let Some(&manifest_file) = comp.inputs.first() else {
        return Err(miss("the compilation read no seg.toml"));
    };
    let header = header(comp, manifest)?;
    // Keep every text but the inventory's, whose megabytes are left out
    // unless a diagnostic points into them: the sources are small, and
    // `seg explain` quotes the line of each rule it cites.
    let mut keep: BTreeSet<FileId> = diags
        .iter()
        .flat_map(|d| d.labels.iter().map(|l| l.span.file))
        .collect();
    keep.insert(manifest_file);
    // The header's globs: the sources', then each inventory glob's.
    let inventory: BTreeSet<&str> = header
        .globs
        .iter()
        .skip(1)
        .flat_map(|g| g.matched.iter().map(String::as_str))
        .collect();
    let files = comp
        .map
        .iter()
        .map(|(id, f)| {
            let text = (keep.contains(&id) || !inventory.contains(f.name.as_str()))
                .then_some(f.text.as_str());
            (f.name.as_str(), text)
        })
        .collect();
    let (program, details): (ProgramRef, Vec<DetailsRef>) = parts::split(program);
    let main = BodyRef {
        files,
        manifest: manifest_file.0,
        program,
        outline,
        critical: &comp.critical,
        diags,
    };
    let encode = |e: postcard::Error| Miss(format!("cannot encode: {e}"));
    let main = postcard::to_stdvec(&main).map_err(encode)?;
    let details = postcard::to_stdvec(&details).map_err(encode)?;
    let header = Header {
        main_len: main.len() as u64,
        main_hash: *blake3::hash(&main).as_bytes(),
        details_hash: *blake3::hash(&details).as_bytes(),
        ..header
    };
    let header = postcard::to_stdvec(&header).map_err(encode)?;
    let len = u32::try_from(header.len()).map_err(|_| miss("the header is too large"))?;
    let mut bytes = Vec::with_capacity(MAGIC.len() + 4 + header.len() + main.len() + details.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&len.to_le_bytes());
    bytes.extend_from_slice(&header);
    bytes.extend_from_slice(&main);
    bytes.extend_from_slice(&details);
    write(&path, &bytes).map_err(|e| Miss(format!("not written: {e}")))?;
    Ok(path)
}

/// What the entry is checked against: the executable, the span of "now",
/// the inputs as compiled and what the globs match now.
fn header(comp: &Compilation, manifest: &seg_check::manifest::Manifest) -> Result<Header, Miss> {
    let inputs: Vec<InputFile> = comp
        .inputs
        .iter()
        .filter_map(|&id| comp.map.get(id))
        .map(|f| InputFile {
            name: f.name.clone(),
            hash: *blake3::hash(f.text.as_bytes()).as_bytes(),
        })
        .collect();
    let read: BTreeSet<&str> = inputs.iter().map(|f| f.name.as_str()).collect();
    let mut globs = vec![manifest.sources.clone()];
    globs.extend(manifest.inventory.iter().map(|g| vec![g.clone()]));
    let mut matched = Vec::new();
    for patterns in globs {
        let found = project::expand_globs(&comp.root, &patterns, &[]).map_err(Miss)?;
        // A file that appeared while compiling was not compiled.
        if found.iter().any(|f| !read.contains(f.as_str())) {
            return Err(miss("a file appeared while compiling"));
        }
        matched.push(Glob {
            patterns,
            matched: found,
        });
    }
    Ok(Header {
        exe: executable()?,
        now_from: comp.now_span.0.map(|t| t.0),
        now_until: comp.now_span.1.map(|t| t.0),
        inputs,
        globs: matched,
        main_len: 0,
        main_hash: [0; 32],
        details_hash: [0; 32],
    })
}

/// The running executable, as precisely as the file system tells it.
fn executable() -> Result<Executable, Miss> {
    let path = std::env::current_exe().map_err(|e| Miss(format!("no executable path: {e}")))?;
    let meta = std::fs::metadata(&path).map_err(|e| Miss(format!("no executable: {e}")))?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .ok_or_else(|| miss("the executable has no modification time"))?;
    // The inode and its change time (set by the kernel, in nanoseconds, when
    // the file is installed or unpacked: no one can choose it) make an entry
    // written elsewhere, or forged and committed to a repository, unreadable.
    #[cfg(unix)]
    let inode = {
        use std::os::unix::fs::MetadataExt;
        (meta.dev(), meta.ino(), meta.ctime(), meta.ctime_nsec())
    };
    #[cfg(not(unix))]
    let inode = (0, 0, 0, 0);
    Ok(Executable {
        path: path.to_string_lossy().into_owned(),
        len: meta.len(),
        modified: (modified.as_secs(), modified.subsec_nanos()),
        inode,
        version: concat!(env!("CARGO_PKG_VERSION"), " ", env!("SEG_INSTALL_REV")).to_string(),
    })
}

/// Write the entry whole or not at all ([`replace_file`]: a temporary file
/// renamed into place), beside a `.gitignore` that ignores the folder and a
/// `CACHEDIR.TAG` for backup tools.
fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let marks = [
        (
            ".gitignore",
            "# The compiled-program cache of seg reach and seg graph (docs/cli.md).\n*\n",
        ),
        (
            "CACHEDIR.TAG",
            "Signature: 8a477f597d28d172789f06886806bc55\n# This folder is a cache made by seg; see docs/cli.md.\n",
        ),
    ];
    for (name, text) in marks {
        let mark = dir.join(name);
        if !mark.exists() {
            replace_file(&mark, text.as_bytes())?;
        }
    }
    replace_file(path, bytes)
}

fn miss(why: &str) -> Miss {
    Miss(why.to_string())
}

//! Deployable size: the bootstrap (stripped) and its zip, as Lambda receives them.

use std::path::Path;
use std::process::Command;

#[derive(Debug, Clone, Default)]
pub struct Sizes {
    pub binary_bytes: u64,
    pub stripped_bytes: u64,
    pub zip_bytes: Option<u64>,
    pub note: Option<String>,
}

/// Copies `binary` to `work/<name>/bootstrap`, strips the copy (`strip` when installed; the
/// release profile already strips symbols) and zips it with `zip -9` when installed.
pub fn measure(binary: &Path, name: &str, work: &Path) -> std::io::Result<Sizes> {
    let dir = work.join(name);
    std::fs::create_dir_all(&dir)?;
    let bootstrap = dir.join("bootstrap");
    std::fs::copy(binary, &bootstrap)?;
    let binary_bytes = std::fs::metadata(binary)?.len();
    let mut notes = Vec::new();
    match Command::new("strip")
        .arg("--strip-all")
        .arg(&bootstrap)
        .status()
    {
        Ok(s) if s.success() => {}
        _ => notes.push("strip not available: size as built (the release profile strips symbols)"),
    }
    let stripped_bytes = std::fs::metadata(&bootstrap)?.len();
    let zip = dir.join("bootstrap.zip");
    let _ = std::fs::remove_file(&zip);
    let zipped = Command::new("zip")
        .current_dir(&dir)
        .args(["-q", "-9", "-X", "bootstrap.zip", "bootstrap"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let zip_bytes = if zipped {
        std::fs::metadata(&zip).ok().map(|m| m.len())
    } else {
        None
    };
    if zip_bytes.is_none() {
        notes.push("zip not available: install `zip` for the zip size");
    }
    Ok(Sizes {
        binary_bytes,
        stripped_bytes,
        zip_bytes,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
    })
}

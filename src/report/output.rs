//! Report sets: the files one command writes into one folder, replaced as a
//! whole or not at all.
//!
//! A set is claimed before the simulation starts, with an advisory lock
//! (`.capsim-<set>.lock`), so a second command writing the same set is
//! refused at once rather than mixing its files with the first one's. Files
//! are written to exclusively created temporary files with unpredictable
//! names (`.capsim-<set>~XXXXXX.tmp`: a planted name or symlink cannot
//! redirect them) and then renamed into place; a file the set had before
//! and no longer has is removed, as listed in the set's manifest
//! (`.capsim-<set>.files`). If a rename fails, the renames done so far are
//! undone, so the folder holds the old set or the new one, never a mix.
//! Other sets in the same folder (another command's reports, other shards'
//! parts) are not touched.
//!
//! Temporary files are registered while they exist; [`remove_temporary_files`]
//! (called on SIGINT, SIGTERM, SIGHUP) removes them, waiting for a commit in
//! progress to finish first. Those a SIGKILL leaves behind are hidden names
//! no command reads, and the next writer of the set removes them.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use tempfile::{Builder, TempPath};

use super::{Exporter, ReportError};

/// Temporary files that exist now, for removal on a signal. Commits hold
/// the lock while they rename, so a signal never interrupts one midway.
static TEMPORARY: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

fn temporary_files() -> MutexGuard<'static, BTreeSet<PathBuf>> {
    TEMPORARY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Removes every temporary report file of this process, after any commit in
/// progress, and keeps the registry locked so none is made afterwards: call
/// it only just before the process exits.
pub fn remove_temporary_files() {
    let files = temporary_files();
    for path in files.iter() {
        let _ = fs::remove_file(path);
    }
    std::mem::forget(files);
}

/// A claimed report set: the folder, the set's name and the held lock.
pub struct ReportSet {
    dir: PathBuf,
    name: String,
    // Held (and so the lock kept) for as long as the set is claimed.
    _lock: File,
}

impl ReportSet {
    /// Claims the set `name` (such as `run` or `part-0-of-4`) in `dir`,
    /// creating the folder; refuses if another process holds it, and
    /// removes what a killed writer of the set left behind.
    pub fn claim(dir: &Path, name: &str) -> Result<Self, ReportError> {
        let failed = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ReportError::Write { path, source }
        };
        fs::create_dir_all(dir).map_err(failed(dir))?;
        let lock_path = dir.join(format!(".capsim-{name}.lock"));
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(failed(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(ReportError::Busy {
                    dir: dir.to_path_buf(),
                    set: name.to_string(),
                });
            }
            Err(fs::TryLockError::Error(source)) => {
                return Err(ReportError::Write {
                    path: lock_path,
                    source,
                });
            }
        }
        let set = Self {
            dir: dir.to_path_buf(),
            name: name.to_string(),
            _lock: lock,
        };
        set.remove_leftovers().map_err(failed(dir))?;
        Ok(set)
    }

    fn temporary_prefix(&self) -> String {
        format!(".capsim-{}~", self.name)
    }

    fn manifest_path(&self) -> PathBuf {
        self.dir.join(format!(".capsim-{}.files", self.name))
    }

    /// Temporary files of this set that exist while it is claimed were left
    /// by a writer that was killed.
    fn remove_leftovers(&self) -> io::Result<()> {
        let prefix = self.temporary_prefix();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(&prefix) && name.ends_with(".tmp") {
                fs::remove_file(entry.path())?;
            }
        }
        Ok(())
    }

    /// The file names the set had when it was last written.
    fn previous_names(&self) -> BTreeSet<String> {
        let Ok(text) = fs::read_to_string(self.manifest_path()) else {
            return BTreeSet::new();
        };
        // Only plain names of visible files in the folder: a damaged
        // manifest must not make a commit remove anything else.
        text.lines()
            .filter(|name| {
                !name.is_empty()
                    && !name.starts_with('.')
                    && Path::new(name).file_name() == Some(std::ffi::OsStr::new(name))
            })
            .map(str::to_string)
            .collect()
    }

    /// A new temporary file of this set, registered for removal on a signal.
    fn temporary(&self) -> io::Result<(File, TempPath)> {
        let file = Builder::new()
            .prefix(&self.temporary_prefix())
            .suffix(".tmp")
            .tempfile_in(&self.dir)?;
        let (file, path) = file.into_parts();
        temporary_files().insert(path.to_path_buf());
        Ok((file, path))
    }

    /// Writes every exporter's file for `input`, replacing the set's
    /// previous files as one; returns the paths written.
    pub fn write<T: ?Sized>(
        &self,
        input: &T,
        exporters: &[Box<dyn Exporter<T>>],
    ) -> Result<Vec<PathBuf>, ReportError> {
        let mut staged: Vec<(TempPath, String)> = Vec::new();
        let result = self.stage(input, exporters, &mut staged);
        let mut files = temporary_files();
        let registered: Vec<PathBuf> = staged.iter().map(|(t, _)| t.to_path_buf()).collect();
        let result = result.and_then(|()| self.commit(staged, &mut files));
        for path in registered {
            files.remove(&path);
        }
        result
    }

    /// Writes each file, and the manifest listing them, to temporary files.
    fn stage<T: ?Sized>(
        &self,
        input: &T,
        exporters: &[Box<dyn Exporter<T>>],
        staged: &mut Vec<(TempPath, String)>,
    ) -> Result<(), ReportError> {
        let mut names = Vec::new();
        for exporter in exporters {
            let name = exporter.file_name();
            let failed = |source| ReportError::Write {
                path: self.dir.join(&name),
                source,
            };
            let (file, path) = self.temporary().map_err(failed)?;
            staged.push((path, name.clone()));
            let mut out = BufWriter::new(file);
            exporter.write(input, &mut out).map_err(failed)?;
            finish(out).map_err(failed)?;
            names.push(name);
        }
        let manifest = self.manifest_path();
        let failed = |source| ReportError::Write {
            path: manifest.clone(),
            source,
        };
        let (file, path) = self.temporary().map_err(failed)?;
        staged.push((path, format!(".capsim-{}.files", self.name)));
        let mut out = BufWriter::new(file);
        for name in &names {
            writeln!(out, "{name}").map_err(failed)?;
        }
        finish(out).map_err(failed)
    }

    /// Keeps the file at `path`, if there is one, under a registered
    /// temporary name: a hard link when `keep`, so that `path` stays in
    /// place until it is replaced, and otherwise (or where the file system
    /// has no hard links) by renaming it.
    fn set_aside(
        &self,
        path: &Path,
        keep: bool,
        files: &mut BTreeSet<PathBuf>,
    ) -> io::Result<Option<TempPath>> {
        match path.symlink_metadata() {
            Err(_) => return Ok(None),
            Ok(metadata) if metadata.is_dir() => {
                return Err(io::Error::other("a folder of that name is in the way"));
            }
            Ok(_) => {}
        }
        let aside = Builder::new()
            .prefix(&self.temporary_prefix())
            .suffix(".tmp")
            .make_in(&self.dir, |aside| {
                if keep && fs::hard_link(path, aside).is_ok() {
                    return Ok(());
                }
                fs::rename(path, aside)
            })?;
        let ((), aside) = aside.into_parts();
        files.insert(aside.to_path_buf());
        Ok(Some(aside))
    }

    /// Removes the previous set's files that the new one lacks and renames
    /// the staged files into place; on any failure, undoes what it did.
    fn commit(
        &self,
        staged: Vec<(TempPath, String)>,
        files: &mut BTreeSet<PathBuf>,
    ) -> Result<Vec<PathBuf>, ReportError> {
        let new: BTreeSet<String> = staged.iter().map(|(_, name)| name.clone()).collect();
        let stale: Vec<String> = self
            .previous_names()
            .into_iter()
            .filter(|name| !new.contains(name))
            .collect();
        // Each path touched, with its previous file if it had one.
        let mut undo: Vec<(PathBuf, Option<TempPath>)> = Vec::new();
        let mut written = Vec::new();
        let result = (|| {
            for name in stale {
                let path = self.dir.join(name);
                let failed = |source| ReportError::Write {
                    path: path.clone(),
                    source,
                };
                let previous = self.set_aside(&path, false, files).map_err(failed)?;
                undo.push((path, previous));
            }
            for (temporary, name) in staged {
                let path = self.dir.join(&name);
                let failed = |source| ReportError::Write {
                    path: path.clone(),
                    source,
                };
                let previous = self.set_aside(&path, true, files).map_err(failed)?;
                undo.push((path.clone(), previous));
                temporary.persist(&path).map_err(|e| failed(e.error))?;
                if !name.starts_with('.') {
                    written.push(path);
                }
            }
            Ok(())
        })();
        for (path, previous) in undo.into_iter().rev() {
            if let Some(previous) = &previous {
                files.remove(&previous.to_path_buf());
            }
            if result.is_ok() {
                // `previous` drops, removing the old file kept aside.
                continue;
            }
            // Best effort: put back what was there, remove what was not.
            let _ = match previous {
                Some(previous) => previous.persist(&path).map_err(|e| e.error),
                None => fs::remove_file(&path),
            };
        }
        result.map(|()| written)
    }
}

/// Flushes `out` and syncs its file to disk, so a renamed file is complete.
fn finish(out: BufWriter<File>) -> io::Result<()> {
    out.into_inner()
        .map_err(|e| e.into_error())
        .and_then(|file| file.sync_all())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `text` as `name`, or fails when `text` is `None`.
    struct Text {
        name: &'static str,
        text: Option<&'static str>,
    }

    impl Exporter<()> for Text {
        fn file_name(&self) -> String {
            self.name.into()
        }

        fn write(&self, _: &(), out: &mut dyn Write) -> io::Result<()> {
            let text = self
                .text
                .ok_or_else(|| io::Error::other("exporter failed"))?;
            out.write_all(text.as_bytes())
        }
    }

    fn exporters(files: &[(&'static str, Option<&'static str>)]) -> Vec<Box<dyn Exporter<()>>> {
        files
            .iter()
            .map(|&(name, text)| Box::new(Text { name, text }) as Box<dyn Exporter<()>>)
            .collect()
    }

    /// The visible files of `dir` with their text, and whether any file
    /// is hidden other than the set's lock and manifest.
    fn contents(dir: &Path) -> (Vec<(String, String)>, bool) {
        let mut files = Vec::new();
        let mut stray = false;
        for entry in fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                stray |= !name.ends_with(".lock") && !name.ends_with(".files");
            } else if entry.path().is_file() {
                files.push((name, fs::read_to_string(entry.path()).unwrap()));
            }
        }
        files.sort();
        (files, stray)
    }

    fn old_set() -> (Vec<(String, String)>, bool) {
        let file = |name: &str, text: &str| (name.to_string(), text.to_string());
        (vec![file("a.csv", "old a"), file("b.csv", "old b")], false)
    }

    #[test]
    fn a_failed_write_leaves_the_old_set_whole() {
        let dir = tempfile::tempdir().unwrap();
        let set = ReportSet::claim(dir.path(), "run").unwrap();
        set.write(
            &(),
            &exporters(&[("a.csv", Some("old a")), ("b.csv", Some("old b"))]),
        )
        .unwrap();
        assert_eq!(contents(dir.path()), old_set());
        // An exporter fails after another one has written its file.
        let failing = exporters(&[("a.csv", Some("new a")), ("b.csv", None)]);
        assert!(set.write(&(), &failing).is_err());
        assert_eq!(contents(dir.path()), old_set());
        // A rename fails after another one has replaced its file: c.csv is
        // a folder, which nothing may replace; b.csv, which the new set
        // lacks, was already set aside and comes back too.
        fs::create_dir(dir.path().join("c.csv")).unwrap();
        let blocked = exporters(&[("a.csv", Some("new a")), ("c.csv", Some("new c"))]);
        assert!(set.write(&(), &blocked).is_err());
        assert_eq!(contents(dir.path()), old_set());
        assert!(temporary_files().is_empty());
    }

    #[test]
    fn a_set_is_claimed_by_one_writer_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let held = ReportSet::claim(dir.path(), "run").unwrap();
        assert!(matches!(
            ReportSet::claim(dir.path(), "run"),
            Err(ReportError::Busy { .. })
        ));
        assert!(ReportSet::claim(dir.path(), "part-0-of-2").is_ok());
        drop(held);
        assert!(ReportSet::claim(dir.path(), "run").is_ok());
    }
}

//! The process environment, which every test of the binary shares. A test that changes
//! variables the rail reads (`AZURE_*`, `VAULT_TOKEN`, …) holds an [`Env`] for its whole run:
//! one such test at a time, and what it changed is put back when it ends. [`RailProcess`]
//! holds it while it spawns, so a child never inherits another test's changes. A value that
//! every test reading it agrees on is set once for the process with [`fix`].
//!
//! [`RailProcess`]: super::RailProcess

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::sync::{Mutex, MutexGuard};

static LOCK: Mutex<()> = Mutex::new(());
static FIXED: Mutex<BTreeMap<String, Option<String>>> = Mutex::new(BTreeMap::new());

fn lock<T>(m: &'static Mutex<T>) -> MutexGuard<'static, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The environment, held: the changes made through it are undone when it drops. Not
/// reentrant: a test holding one starts no [`RailProcess`](super::RailProcess) and calls no [`fix`].
pub struct Env {
    saved: Vec<(String, Option<OsString>)>,
    _lock: MutexGuard<'static, ()>,
}

impl Env {
    /// Wait for the tests that hold the environment, then hold it.
    pub fn lock() -> Env {
        Env {
            saved: Vec::new(),
            _lock: lock(&LOCK),
        }
    }

    fn save(&mut self, name: &str) {
        if !self.saved.iter().any(|(n, _)| n == name) {
            self.saved.push((name.to_owned(), std::env::var_os(name)));
        }
    }

    pub fn set(&mut self, name: &str, value: impl AsRef<OsStr>) {
        self.save(name);
        std::env::set_var(name, value);
    }

    pub fn remove(&mut self, name: &str) {
        self.save(name);
        std::env::remove_var(name);
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for (name, value) in self.saved.drain(..).rev() {
            match value {
                Some(v) => std::env::set_var(&name, v),
                None => std::env::remove_var(&name),
            }
        }
    }
}

/// Set `name` to `value` (`None`: unset it) for the rest of the process, the first time only;
/// a later call must agree on the value. Not while holding an [`Env`].
pub fn fix(name: &str, value: Option<&str>) {
    let mut fixed = lock(&FIXED);
    if let Some(v) = fixed.get(name) {
        assert_eq!(v.as_deref(), value, "{name} is fixed to another value");
        return;
    }
    let _env = lock(&LOCK);
    match value {
        Some(v) => std::env::set_var(name, v),
        None => std::env::remove_var(name),
    }
    fixed.insert(name.to_owned(), value.map(str::to_owned));
}

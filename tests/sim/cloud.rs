//! An in-memory object store with the weakest backend's semantics as tapesync's rules make it:
//! create-only (a put of an existing key is refused with 403, as Firebase's rules do), metadata
//! reads (size), listing one folder level by prefix in small pages, names only.

use std::collections::{BTreeMap, BTreeSet};

use tapesync::core::engine::Outcome;
use tapesync::core::fields::ContentHash;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Obj {
    Json(Vec<u8>),
    /// The take's hash (standing for its bytes) and its size.
    Audio(ContentHash, u64),
}

impl Obj {
    pub fn size(&self) -> u64 {
        match self {
            Obj::Json(b) => b.len() as u64,
            Obj::Audio(_, size) => *size,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub list: u64,
    pub get: u64,
    pub put: u64,
    pub get_blob: u64,
    pub delete: u64,
    pub head: u64,
}

impl Stats {
    pub fn writes(&self) -> u64 {
        self.put + self.delete
    }
    pub fn since(&self, earlier: &Stats) -> Stats {
        Stats {
            list: self.list - earlier.list,
            get: self.get - earlier.get,
            put: self.put - earlier.put,
            get_blob: self.get_blob - earlier.get_blob,
            delete: self.delete - earlier.delete,
            head: self.head - earlier.head,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Cloud {
    pub objects: BTreeMap<String, Obj>,
    pub stats: Stats,
    pub page_size: usize,
}

impl Cloud {
    pub fn new(page_size: usize) -> Self {
        Cloud {
            objects: BTreeMap::new(),
            stats: Stats::default(),
            page_size,
        }
    }

    /// One page of the folder: object names and sub-folder names relative to it, sorted together.
    pub fn list(&mut self, folder: &str, token: Option<&str>) -> Outcome {
        self.stats.list += 1;
        let prefix = format!("{folder}/");
        let mut entries: BTreeSet<(String, bool)> = BTreeSet::new();
        for key in self.objects.range(prefix.clone()..) {
            let Some(rest) = key.0.strip_prefix(&prefix) else {
                break;
            };
            match rest.split_once('/') {
                Some((dir, _)) => entries.insert((dir.to_owned(), true)),
                None => entries.insert((rest.to_owned(), false)),
            };
        }
        let start: usize = token.and_then(|t| t.parse().ok()).unwrap_or(0);
        let page: Vec<_> = entries.iter().skip(start).take(self.page_size).collect();
        let next = start + page.len();
        Outcome::Listed {
            names: page.iter().filter(|e| !e.1).map(|e| e.0.clone()).collect(),
            folders: page.iter().filter(|e| e.1).map(|e| e.0.clone()).collect(),
            next_page_token: (next < entries.len()).then(|| next.to_string()),
        }
    }
}

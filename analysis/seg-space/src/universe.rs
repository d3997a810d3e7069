//! The identities of several programs, one entry per name.
//!
//! Programs number their identities independently (`IdentityId` is an
//! index into one program's inventory), so analyses over two versions of a
//! policy meet on names: identity `payments-api` is the same identity in
//! both, whatever its id. A [`Uid`] numbers the union: first every identity
//! of the first program in its order, then those only the second has, and
//! so on, so the numbering is deterministic.

use seg_ir::{IdentityId, Program};
use std::collections::HashMap;

/// An identity of the universe (index into [`Universe::names`]).
pub type Uid = u32;

/// Identities of several programs, unified by name.
#[derive(Clone, Debug)]
pub struct Universe {
    names: Vec<String>,
    /// Per program: its identity id → uid.
    to_uid: Vec<Vec<Uid>>,
    /// Per uid: its id in each program, if the program has it.
    ids: Vec<Vec<Option<IdentityId>>>,
}

impl Universe {
    pub fn new(programs: &[&Program]) -> Universe {
        let mut by_name: HashMap<&str, Uid> = HashMap::new();
        let mut names: Vec<String> = Vec::new();
        let mut ids: Vec<Vec<Option<IdentityId>>> = Vec::new();
        let mut to_uid = Vec::with_capacity(programs.len());
        for (p, program) in programs.iter().enumerate() {
            let mut local = Vec::with_capacity(program.identities.len());
            for identity in &program.identities {
                let uid = *by_name.entry(identity.name.as_str()).or_insert_with(|| {
                    names.push(identity.name.clone());
                    ids.push(vec![None; programs.len()]);
                    (names.len() - 1) as Uid
                });
                ids[uid as usize][p] = Some(identity.id);
                local.push(uid);
            }
            to_uid.push(local);
        }
        Universe { names, to_uid, ids }
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn name(&self, uid: Uid) -> &str {
        &self.names[uid as usize]
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The uid of program `p`'s identity `id`.
    pub fn uid(&self, p: usize, id: IdentityId) -> Uid {
        self.to_uid[p][id.0 as usize]
    }

    /// The identity's id in program `p`, if that program has it.
    pub fn id_in(&self, uid: Uid, p: usize) -> Option<IdentityId> {
        self.ids[uid as usize][p]
    }

    /// The uid of a name, if some program has that identity.
    pub fn find(&self, name: &str) -> Option<Uid> {
        // Rare (command-line and test lookups): a scan keeps the struct small.
        self.names.iter().position(|n| n == name).map(|i| i as Uid)
    }
}

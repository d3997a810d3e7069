//! [`Identities`]: the program's identity list, shared rather than copied.
//!
//! The checker builds every program of a build from one inventory, and the
//! capability pass clones programs: copying 50k identities (names, attribute
//! and label maps) and freeing the copies cost more than checking 10k rules.
//! So the list sits behind an `Arc`: cloning a program or building one from
//! the inventory shares it. Reading goes through `Deref` to the `Vec`;
//! writing through `DerefMut` copies the list first when it is shared (copy
//! on write), so a program is still a plain value to whoever changes it.
//! Serialised, printed and compared exactly as the `Vec` it holds.

use crate::program::Identity;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

/// The identities of a [`crate::Program`], in id order.
#[derive(Clone, Default)]
pub struct Identities(Arc<Vec<Identity>>);

impl Identities {
    pub fn new(list: Vec<Identity>) -> Identities {
        Identities(Arc::new(list))
    }

    /// Whether both hold the very same list (not merely equal ones).
    pub fn shares(&self, other: &Identities) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Deref for Identities {
    type Target = Vec<Identity>;

    fn deref(&self) -> &Vec<Identity> {
        &self.0
    }
}

impl DerefMut for Identities {
    fn deref_mut(&mut self) -> &mut Vec<Identity> {
        Arc::make_mut(&mut self.0)
    }
}

impl From<Vec<Identity>> for Identities {
    fn from(list: Vec<Identity>) -> Identities {
        Identities::new(list)
    }
}

impl FromIterator<Identity> for Identities {
    fn from_iter<I: IntoIterator<Item = Identity>>(iter: I) -> Identities {
        Identities::new(iter.into_iter().collect())
    }
}

impl<'a> IntoIterator for &'a Identities {
    type Item = &'a Identity;
    type IntoIter = std::slice::Iter<'a, Identity>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<'a> IntoIterator for &'a mut Identities {
    type Item = &'a mut Identity;
    type IntoIter = std::slice::IterMut<'a, Identity>;

    fn into_iter(self) -> Self::IntoIter {
        self.deref_mut().iter_mut()
    }
}

impl PartialEq for Identities {
    fn eq(&self, other: &Identities) -> bool {
        self.shares(other) || self.0 == other.0
    }
}

impl PartialEq<Vec<Identity>> for Identities {
    fn eq(&self, other: &Vec<Identity>) -> bool {
        *self.0 == *other
    }
}

impl fmt::Debug for Identities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl Serialize for Identities {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.as_slice().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Identities {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Identities, D::Error> {
        Vec::<Identity>::deserialize(d).map(Identities::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{IdentityId, IdentityKind};
    use seg_diag::{FileId, Span};

    fn identity(i: u32, name: &str) -> Identity {
        Identity {
            id: IdentityId(i),
            name: name.into(),
            kind: IdentityKind::Workload,
            owner: None,
            attributes: Default::default(),
            labels: Default::default(),
            addresses: Vec::new(),
            kubernetes: None,
            aws: None,
            gcp: None,
            spiffe: None,
            origin: Span::new(FileId(0), 0, 0),
        }
    }

    #[test]
    fn a_clone_shares_until_written() {
        let a = Identities::new(vec![identity(0, "a"), identity(1, "b")]);
        let mut b = a.clone();
        assert!(a.shares(&b));
        b[1].name = "c".into();
        assert!(!a.shares(&b));
        assert_eq!(a[1].name, "b");
        assert_eq!(b[1].name, "c");
        assert_ne!(a, b);
        b[1].name = "b".into();
        assert_eq!(a, b);
    }

    #[test]
    fn serialised_and_printed_as_the_list() {
        let list = vec![identity(0, "a")];
        let shared = Identities::new(list.clone());
        assert_eq!(
            serde_json::to_string(&shared).unwrap(),
            serde_json::to_string(&list).unwrap()
        );
        assert_eq!(format!("{shared:#?}"), format!("{list:#?}"));
        let back: Identities =
            serde_json::from_str(&serde_json::to_string(&list).unwrap()).unwrap();
        assert_eq!(back, list);
    }
}

//! [`Rare`]: a field most clients never set, kept behind a pointer that is
//! allocated on first write. An idle client pays one word for it.

use std::collections::BTreeSet;
use std::ops::{Deref, DerefMut};

/// A value with an empty form that can be shared by every reader.
pub trait Empty: Default + 'static {
    /// The empty value.
    const EMPTY: &'static Self;
}

impl Empty for BTreeSet<String> {
    const EMPTY: &'static Self = &BTreeSet::new();
}

/// A lazily allocated `T`: reads of an unset value see [`Empty::EMPTY`]; the
/// first mutable access allocates it.
#[derive(Debug, Default, Clone)]
pub struct Rare<T>(Option<Box<T>>);

impl<T: Empty> Deref for Rare<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.0.as_deref().unwrap_or(T::EMPTY)
    }
}

impl<T: Empty> DerefMut for Rare<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.0.get_or_insert_with(Default::default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_empty_until_written() {
        let mut r: Rare<BTreeSet<String>> = Rare::default();
        assert!(r.is_empty());
        assert!(r.0.is_none(), "reading does not allocate");
        r.insert("a".into());
        assert!(r.contains("a"));
        assert_eq!(std::mem::size_of::<Rare<BTreeSet<String>>>(), std::mem::size_of::<usize>());
    }
}

//! The last N distinct values seen, oldest forgotten first: the memory of
//! what was delivered or written lately, bounded so that a long session or
//! a flood cannot grow it without end.

use std::collections::{HashSet, VecDeque};
use std::hash::Hash;

/// At most `N` distinct values, in the order they were first inserted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recent<T: Eq + Hash, const N: usize> {
    order: VecDeque<T>,
    set: HashSet<T>,
}

impl<T: Eq + Hash, const N: usize> Default for Recent<T, N> {
    fn default() -> Self {
        Recent {
            order: VecDeque::new(),
            set: HashSet::new(),
        }
    }
}

impl<T: Eq + Hash + Clone, const N: usize> Recent<T, N> {
    /// Remember `value`, forgetting the oldest when `N` are kept; `false`
    /// (and nothing changes) when it is remembered already.
    pub fn insert(&mut self, value: T) -> bool {
        if self.set.contains(&value) {
            return false;
        }
        if self.order.len() == N {
            if let Some(oldest) = self.order.pop_front() {
                self.set.remove(&oldest);
            }
        }
        self.set.insert(value.clone());
        self.order.push_back(value);
        true
    }

    /// Whether `value` is remembered.
    pub fn contains(&self, value: &T) -> bool {
        self.set.contains(value)
    }

    /// How many values are remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The values remembered, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.order.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_is_forgotten_once_n_are_kept_and_a_repeat_changes_nothing() {
        let mut recent = Recent::<u32, 3>::default();
        assert!(recent.insert(1) && recent.insert(2) && recent.insert(3));
        assert!(!recent.insert(1), "remembered already");
        assert!(recent.insert(4));
        assert!(!recent.contains(&1) && recent.contains(&2) && recent.contains(&4));
        assert_eq!(recent.iter().copied().collect::<Vec<_>>(), [2, 3, 4]);
        assert_eq!(recent.len(), 3);
    }
}

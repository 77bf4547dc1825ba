//! Bounded fuzzing on stable Rust: each target in `tests/` draws inputs from proptest, half of
//! them random bytes and half a seed of `corpus/<target>/` with a few byte-level mutations
//! (flips, overwrites with boundary values, inserts, deletions, truncations, repeats), and
//! checks what must hold for every input. Proptest shrinks a failure to a small input and
//! records it in `proptest-regressions/`, which is kept in the repository and replayed first.
//!
//! `CONFAB_FUZZ_CASES` sets the cases per target (default 2,000: seconds each in a debug
//! build, for CI); a longer hunt is `CONFAB_FUZZ_CASES=1000000 cargo test -p confab-fuzz --release`.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

/// Cases per target when `CONFAB_FUZZ_CASES` is not set.
const DEFAULT_CASES: u32 = 2_000;
/// Mutations applied to one seed.
const MAX_MUTATIONS: usize = 8;

/// The proptest configuration of every target.
pub fn config() -> Config {
    let cases = std::env::var("CONFAB_FUZZ_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::default()
    }
}

/// The seed files of `corpus/<target>/`, in name order.
pub fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = corpus_dir(target);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .filter_map(|entry| Some(entry.ok()?.path()))
        .filter(|path| path.is_file())
        .collect();
    paths.sort();
    let seeds: Vec<Vec<u8>> = paths
        .iter()
        .map(|path| std::fs::read(path).unwrap_or_else(|error| panic!("{error}")))
        .collect();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds
}

pub fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target)
}

/// Random bytes up to `max_len`, or a seed with up to `MAX_MUTATIONS` mutations.
pub fn inputs(seeds: Vec<Vec<u8>>, max_len: usize) -> impl Strategy<Value = Vec<u8>> {
    let random = proptest::collection::vec(any::<u8>(), 0..max_len);
    let mutated = (
        proptest::sample::select(seeds),
        proptest::collection::vec(any::<Mutation>(), 0..=MAX_MUTATIONS),
    )
        .prop_map(|(seed, mutations)| {
            mutations
                .iter()
                .fold(seed, |bytes, mutation| mutation.apply(bytes))
        });
    prop_oneof![random, mutated]
}

/// One byte-level change; positions are taken modulo the input's length.
#[derive(Debug, Clone)]
pub enum Mutation {
    FlipBit {
        at: usize,
        bit: u8,
    },
    /// The values parsers trip on: 0, 0x7f, 0x80, 0xff, and varint continuation bytes.
    Boundary {
        at: usize,
        value: u8,
    },
    Insert {
        at: usize,
        bytes: Vec<u8>,
    },
    Delete {
        at: usize,
        len: usize,
    },
    Truncate {
        len: usize,
    },
    /// Copies a slice to another place (lengths and nested messages appear twice).
    Repeat {
        from: usize,
        len: usize,
        to: usize,
    },
}

impl Arbitrary for Mutation {
    type Parameters = ();
    type Strategy = BoxedStrategy<Mutation>;

    fn arbitrary_with((): ()) -> Self::Strategy {
        let at = any::<usize>();
        prop_oneof![
            (at, 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
            (
                at,
                proptest::sample::select(vec![0x00u8, 0x01, 0x7f, 0x80, 0xff, 0xfe])
            )
                .prop_map(|(at, value)| Mutation::Boundary { at, value }),
            (at, proptest::collection::vec(any::<u8>(), 1..16))
                .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
            (at, 1usize..32).prop_map(|(at, len)| Mutation::Delete { at, len }),
            any::<usize>().prop_map(|len| Mutation::Truncate { len }),
            (at, 1usize..64, at).prop_map(|(from, len, to)| Mutation::Repeat { from, len, to }),
        ]
        .boxed()
    }
}

impl Mutation {
    pub fn apply(&self, mut bytes: Vec<u8>) -> Vec<u8> {
        let len = bytes.len();
        let position = |at: usize| if len == 0 { 0 } else { at % len };
        match self {
            Mutation::FlipBit { at, bit } if len > 0 => bytes[position(*at)] ^= 1 << bit,
            Mutation::Boundary { at, value } if len > 0 => bytes[position(*at)] = *value,
            Mutation::FlipBit { .. } | Mutation::Boundary { .. } => {}
            Mutation::Insert { at, bytes: new } => {
                let at = if len == 0 { 0 } else { at % (len + 1) };
                bytes.splice(at..at, new.iter().copied());
            }
            Mutation::Delete { at, len: count } => {
                let start = position(*at);
                let end = (start + count).min(len);
                bytes.drain(start..end);
            }
            Mutation::Truncate { len: keep } => {
                bytes.truncate(if len == 0 { 0 } else { keep % len })
            }
            Mutation::Repeat {
                from,
                len: count,
                to,
            } => {
                let start = position(*from);
                let end = (start + count).min(len);
                let slice = bytes[start..end].to_vec();
                let to = if len == 0 { 0 } else { to % (len + 1) };
                bytes.splice(to..to, slice);
            }
        }
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_stay_in_bounds_on_any_input() {
        let mutations = [
            Mutation::FlipBit { at: 9, bit: 7 },
            Mutation::Boundary { at: 3, value: 0xff },
            Mutation::Insert {
                at: 100,
                bytes: vec![1, 2],
            },
            Mutation::Delete { at: 2, len: 100 },
            Mutation::Truncate { len: 7 },
            Mutation::Repeat {
                from: 1,
                len: 50,
                to: 999,
            },
        ];
        for input in [vec![], vec![0u8], (0..10).collect::<Vec<u8>>()] {
            for mutation in &mutations {
                let _ = mutation.apply(input.clone());
            }
        }
        assert_eq!(
            Mutation::Delete { at: 1, len: 2 }.apply(vec![1, 2, 3, 4]),
            vec![1, 4]
        );
        assert_eq!(
            Mutation::Repeat {
                from: 0,
                len: 2,
                to: 4
            }
            .apply(vec![1, 2, 3, 4]),
            vec![1, 2, 3, 4, 1, 2]
        );
    }
}

//! No header can match two rows: checked exactly with `Row::overlaps` on every pair, and by
//! property tests that generate headers from a row's magic with random don't-care bits.

use proptest::prelude::*;

use crate::{HEADER_LEN, Row, TABLE, Target, matching_rows};

#[test]
fn no_two_rows_overlap() {
    for (i, a) in TABLE.iter().enumerate() {
        for b in &TABLE[i + 1..] {
            assert!(
                !a.overlaps(b),
                "{} and {} overlap: {:02x?}",
                a.id,
                b.id,
                a.overlap_witness(b)
            );
            assert!(
                !b.overlaps(a),
                "overlaps must be symmetric ({} / {})",
                a.id,
                b.id
            );
        }
        assert!(a.overlaps(a), "a row always overlaps itself ({})", a.id);
    }
}

#[test]
fn overlaps_detects_the_old_mips_and_mipsn32_collision() {
    // Older QEMU scripts gave mips and mipsn32 the same magic and mask (multiarch/qemu-user-static#15).
    let magic = b"\x7fELF\x01\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x08";
    let mask = b"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff";
    let old_mips = Row {
        target: Target::Mips,
        id: "old-mips",
        offset: 0,
        magic,
        mask,
    };
    let old_n32 = Row {
        target: Target::Mipsn32,
        id: "old-mipsn32",
        ..old_mips
    };
    assert!(old_mips.overlaps(&old_n32));
    // Each old row also overlaps the current row of the *other* ABI: that is the bug.
    assert!(old_mips.overlaps(Target::Mipsn32.primary_row()));
    assert!(
        !old_mips.overlaps(Target::Mips64.primary_row()),
        "ELF64 is not ELF32"
    );
    let witness = old_mips
        .overlap_witness(Target::Mipsn32.primary_row())
        .unwrap();
    assert!(old_mips.matches(&witness));
    assert!(Target::Mipsn32.primary_row().matches(&witness));
}

#[test]
fn a_row_demanding_bits_past_256_matches_nothing() {
    let row = Row {
        target: Target::Arm,
        id: "t",
        offset: 250,
        magic: &[0; 7],
        mask: &[0xff; 7],
    };
    assert!(
        row.overlaps(&row),
        "zero bits past the end are what every file has"
    );
    let magic: &[u8] = &[0, 0, 0, 0, 0, 0, 1];
    let impossible = Row { magic, ..row };
    assert!(!impossible.overlaps(&impossible));
    assert!(!impossible.matches(&[0u8; HEADER_LEN]));
}

/// A small random row at a small offset, to test `overlaps` against brute force.
fn small_row() -> impl Strategy<Value = (u16, Vec<u8>, Vec<u8>)> {
    (0u16..4, 1usize..4).prop_flat_map(|(offset, len)| {
        (
            Just(offset),
            prop::collection::vec(any::<u8>(), len),
            prop::collection::vec(prop::sample::select(vec![0u8, 0x01, 0x0f, 0xfe, 0xff]), len),
        )
    })
}

fn leak(bytes: Vec<u8>) -> &'static [u8] {
    Box::leak(bytes.into_boxed_slice())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// A header built from row A's magic, with every bit A ignores random, matches A and no
    /// other row.
    #[test]
    fn headers_generated_from_a_row_match_only_that_row(
        index in 0..TABLE.len(),
        noise in prop::collection::vec(any::<u8>(), HEADER_LEN),
    ) {
        let row = &TABLE[index];
        let mut header = noise;
        for (i, (magic, mask)) in row.magic.iter().zip(row.mask).enumerate() {
            let at = usize::from(row.offset) + i;
            header[at] = (header[at] & !mask) | (magic & mask);
        }
        let ids: Vec<&str> = matching_rows(&header).iter().map(|r| r.id).collect();
        prop_assert_eq!(ids, vec![row.id]);
    }

    /// `overlaps` agrees with brute force on small rows: its witness matches both when it says
    /// yes, and no header of the searched space matches both when it says no.
    #[test]
    fn overlaps_agrees_with_brute_force(a in small_row(), b in small_row()) {
        let a = Row { target: Target::Arm, id: "a", offset: a.0, magic: leak(a.1), mask: leak(a.2) };
        let b = Row { target: Target::Arm, id: "b", offset: b.0, magic: leak(b.1), mask: leak(b.2) };
        match a.overlap_witness(&b) {
            Some(witness) => {
                prop_assert!(a.overlaps(&b));
                prop_assert!(a.matches(&witness) && b.matches(&witness));
            }
            None => {
                prop_assert!(!a.overlaps(&b));
                // A conflict means some position where both compare a bit with different
                // values: find it.
                let conflict = (0usize..8).any(|pos| {
                    let get = |r: &Row| {
                        let i = pos.checked_sub(usize::from(r.offset))?;
                        Some((*r.magic.get(i)?, *r.mask.get(i)?))
                    };
                    matches!((get(&a), get(&b)), (Some((va, ma)), Some((vb, mb))) if (va ^ vb) & ma & mb != 0)
                });
                prop_assert!(conflict);
            }
        }
    }
}

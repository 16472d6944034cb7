//! Grouping consecutive tensors into batches of bounded size: each batch is processed in
//! parallel and written out in order, so memory stays bounded by one batch (or one tensor larger
//! than the budget) whatever the checkpoint size. The one grouping rule of the workspace: the
//! encoder, the file decoder and the GPU decoder's tile scratch (`wcodec-cuda`) all use it.

use std::ops::Range;

/// Consecutive index ranges whose sizes add up to at most `budget` (a single item larger than
/// the budget forms its own batch).
pub fn batch_ranges(sizes: impl IntoIterator<Item = u64>, budget: u64) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut acc = 0u64;
    let mut len = 0;
    for (i, size) in sizes.into_iter().enumerate() {
        if i > start && acc.saturating_add(size) > budget {
            out.push(start..i);
            start = i;
            acc = 0;
        }
        acc = acc.saturating_add(size);
        len = i + 1;
    }
    if start < len {
        out.push(start..len);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::batch_ranges;

    #[test]
    fn batches_cover_everything_in_order() {
        assert_eq!(
            batch_ranges([5, 5, 5, 20, 1], 10),
            vec![0..2, 2..3, 3..4, 4..5]
        );
        assert!(batch_ranges([], 10).is_empty());
        assert_eq!(batch_ranges([0, 0, 0], 0), vec![0..3]);
    }
}

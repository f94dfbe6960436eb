//! Merging per-track streams into one stream in timestamp order.
//!
//! Each track's items arrive in their own order (decode order for video); the merge keeps one
//! pending item per track and emits the earliest only once every other track has an item
//! pending or has ended, so an item is never emitted before an earlier one of another track
//! that is still on its way.

/// What the merge needs or gives next.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next<T> {
    /// The earliest item of all tracks.
    Item(T),
    /// Track `.0` has nothing pending and has not ended: offer its next item first.
    Need(usize),
    /// Every track has ended.
    End,
}

#[derive(Debug)]
enum Slot<T> {
    Empty,
    Pending(u64, T),
    Ended,
}

/// A merge of `n` tracks by an ordering key (nanoseconds).
#[derive(Debug)]
pub(crate) struct Merger<T> {
    slots: Vec<Slot<T>>,
}

impl<T> Merger<T> {
    pub(crate) fn new(tracks: usize) -> Self {
        Self {
            slots: (0..tracks).map(|_| Slot::Empty).collect(),
        }
    }

    /// Gives track `track` its next item with its ordering key, or `None` when it ended.
    ///
    /// The track must be the one [`Next::Need`] asked for (or any empty track).
    pub(crate) fn offer(&mut self, track: usize, item: Option<(u64, T)>) {
        if let Some(slot) = self.slots.get_mut(track) {
            debug_assert!(matches!(slot, Slot::Empty), "track {track} offered twice");
            *slot = match item {
                Some((key, item)) => Slot::Pending(key, item),
                None => Slot::Ended,
            };
        }
    }

    /// The next item, or which track must be offered an item first. Ties go to the lower
    /// track index.
    pub(crate) fn next(&mut self) -> Next<T> {
        let mut earliest: Option<(usize, u64)> = None;
        for (i, slot) in self.slots.iter().enumerate() {
            match slot {
                Slot::Empty => return Next::Need(i),
                Slot::Pending(key, _) if earliest.is_none_or(|(_, k)| *key < k) => {
                    earliest = Some((i, *key));
                }
                Slot::Pending(..) | Slot::Ended => {}
            }
        }
        let Some((i, _)) = earliest else {
            return Next::End;
        };
        match std::mem::replace(&mut self.slots[i], Slot::Empty) {
            Slot::Pending(_, item) => Next::Item(item),
            // `earliest` only points at pending slots.
            other => {
                self.slots[i] = other;
                Next::End
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a merge over per-track key lists, returning (track, key) in emission order.
    fn run(tracks: &[&[u64]]) -> Vec<(usize, u64)> {
        let mut iters: Vec<_> = tracks.iter().map(|t| t.iter().copied()).collect();
        let mut merger = Merger::new(tracks.len());
        let mut out = Vec::new();
        loop {
            match merger.next() {
                Next::Item(item) => out.push(item),
                Next::Need(i) => merger.offer(i, iters[i].next().map(|k| (k, (i, k)))),
                Next::End => return out,
            }
        }
    }

    #[test]
    fn interleaves_by_key() {
        let out = run(&[&[0, 33, 66, 100], &[0, 21, 42, 64, 85, 106]]);
        let keys: Vec<u64> = out.iter().map(|(_, k)| *k).collect();
        assert_eq!(keys, vec![0, 0, 21, 33, 42, 64, 66, 85, 100, 106]);
        // Ties go to the first track.
        assert_eq!(&out[..2], &[(0, 0), (1, 0)]);
    }

    #[test]
    fn a_track_that_ends_early_does_not_block() {
        let out = run(&[&[0, 10, 20, 30, 40], &[5]]);
        assert_eq!(
            out,
            vec![(0, 0), (1, 5), (0, 10), (0, 20), (0, 30), (0, 40)]
        );
        assert_eq!(run(&[&[], &[1, 2]]), vec![(1, 1), (1, 2)]);
        assert_eq!(run(&[&[], &[]]), vec![]);
    }

    #[test]
    fn per_track_order_is_kept_even_when_keys_go_back() {
        // Video in decode order with B-frames: its own order must not change.
        let out = run(&[&[0, 100, 33, 66], &[50]]);
        let video: Vec<u64> = out
            .iter()
            .filter(|(t, _)| *t == 0)
            .map(|(_, k)| *k)
            .collect();
        assert_eq!(video, vec![0, 100, 33, 66]);
    }

    #[test]
    fn asks_for_the_empty_track() {
        let mut merger = Merger::<()>::new(2);
        assert_eq!(merger.next(), Next::Need(0));
        merger.offer(0, Some((5, ())));
        assert_eq!(merger.next(), Next::Need(1));
        merger.offer(1, None);
        assert_eq!(merger.next(), Next::Item(()));
        assert_eq!(merger.next(), Next::Need(0));
        merger.offer(0, None);
        assert_eq!(merger.next(), Next::End);
    }
}

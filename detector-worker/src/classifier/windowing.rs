//! Splits a text's tokens into model-sized windows so long inputs have no blind
//! spot: every token lands in at least one window, and neighbouring windows
//! overlap so an injection cut at a boundary is still seen whole in one of them.

/// Window geometry, in tokens. `max_length` counts `[CLS]` and `[SEP]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windowing {
    pub max_length: usize,
    pub overlap: usize,
}

impl Windowing {
    /// Content tokens per window (room left after `[CLS]` and `[SEP]`), at least 1.
    pub fn width(&self) -> usize {
        self.max_length.saturating_sub(2).max(1)
    }

    /// Distance between window starts; at least 1 so the loop always advances.
    pub fn step(&self) -> usize {
        self.width().saturating_sub(self.overlap).max(1)
    }

    /// `[cls] chunk [sep]` for each window of `content`. An empty text yields one
    /// window `[cls, sep]`. The last window ends at the end of the content, and
    /// its start is a multiple of `step` (same rule as models/common.py).
    pub fn windows(&self, content: &[u32], cls: u32, sep: u32) -> Vec<Vec<u32>> {
        let width = self.width();
        let step = self.step();
        let mut windows = Vec::with_capacity(content.len() / step + 1);
        let mut start = 0;
        loop {
            let end = (start + width).min(content.len());
            let mut ids = Vec::with_capacity(end - start + 2);
            ids.push(cls);
            ids.extend_from_slice(&content[start..end]);
            ids.push(sep);
            windows.push(ids);
            if start + width >= content.len() {
                return windows;
            }
            start += step;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Windowing;

    const CLS: u32 = 101;
    const SEP: u32 = 102;

    #[test]
    fn empty_text_is_one_empty_window() {
        let w = Windowing { max_length: 8, overlap: 2 };
        assert_eq!(w.windows(&[], CLS, SEP), vec![vec![CLS, SEP]]);
    }

    #[test]
    fn short_text_is_one_window() {
        let w = Windowing { max_length: 8, overlap: 2 };
        assert_eq!(w.windows(&[1, 2, 3], CLS, SEP), vec![vec![CLS, 1, 2, 3, SEP]]);
    }

    #[test]
    fn exact_fit_is_one_window() {
        let w = Windowing { max_length: 5, overlap: 1 };
        assert_eq!(w.windows(&[1, 2, 3], CLS, SEP).len(), 1);
    }

    #[test]
    fn long_text_windows_overlap_and_cover_everything() {
        let w = Windowing { max_length: 6, overlap: 1 }; // width 4, step 3
        let content: Vec<u32> = (1..=10).collect();
        let got = w.windows(&content, CLS, SEP);
        assert_eq!(got, vec![vec![CLS, 1, 2, 3, 4, SEP], vec![CLS, 4, 5, 6, 7, SEP], vec![CLS, 7, 8, 9, 10, SEP],]);
    }

    #[test]
    fn overlap_larger_than_width_still_advances() {
        let w = Windowing { max_length: 4, overlap: 10 }; // width 2, step 1
        let got = w.windows(&[1, 2, 3], CLS, SEP);
        assert_eq!(got, vec![vec![CLS, 1, 2, SEP], vec![CLS, 2, 3, SEP]]);
    }
}

//! [`Batcher`]: collects items until there are enough of them or the oldest
//! is old enough. Pure logic on `tokio::time::Instant`, so tests drive it
//! with paused time.

use std::time::Duration;

use tokio::time::Instant;

/// Size-or-age batching.
#[derive(Debug)]
pub struct Batcher<T> {
    items: Vec<T>,
    max_items: usize,
    max_age: Duration,
    /// When the first item of the current batch arrived.
    started: Option<Instant>,
}

impl<T> Batcher<T> {
    pub fn new(max_items: usize, max_age: Duration) -> Batcher<T> {
        Batcher { items: Vec::with_capacity(max_items), max_items: max_items.max(1), max_age, started: None }
    }

    /// Add an item; `true` when the batch is now full.
    pub fn push(&mut self, item: T) -> bool {
        if self.items.is_empty() {
            self.started = Some(Instant::now());
        }
        self.items.push(item);
        self.is_full()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// The items waiting, oldest first.
    pub fn items(&self) -> &[T] {
        &self.items
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.items.len() >= self.max_items
    }

    /// How many more items fit before the batch is full.
    pub fn room(&self) -> usize {
        self.max_items.saturating_sub(self.items.len())
    }

    /// When the current batch must be flushed because of its age; `None` while empty.
    pub fn deadline(&self) -> Option<Instant> {
        self.started.map(|t| t + self.max_age)
    }

    /// Full, or non-empty and at least `max_age` old.
    pub fn is_due(&self) -> bool {
        self.is_full() || self.deadline().is_some_and(|d| Instant::now() >= d)
    }

    /// Take the current batch, leaving an empty one.
    pub fn take(&mut self) -> Vec<T> {
        self.started = None;
        std::mem::replace(&mut self.items, Vec::with_capacity(self.max_items))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn age_triggers_after_max_age_from_the_first_item() {
        let mut b = Batcher::new(3, Duration::from_secs(1));
        assert!(!b.is_due());
        assert_eq!(b.deadline(), None);
        b.push(1);
        let deadline = b.deadline().unwrap();
        tokio::time::advance(Duration::from_millis(600)).await;
        b.push(2);
        assert_eq!(b.deadline(), Some(deadline), "later items do not extend the age");
        assert!(!b.is_due());
        tokio::time::advance(Duration::from_millis(399)).await;
        assert!(!b.is_due());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(b.is_due());
        assert_eq!(b.take(), vec![1, 2]);
        assert!(!b.is_due());
        assert_eq!(b.deadline(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn size_triggers_immediately() {
        let mut b = Batcher::new(3, Duration::from_secs(1));
        assert!(!b.push('a'));
        assert!(!b.push('b'));
        assert_eq!(b.room(), 1);
        assert!(b.push('c'));
        assert!(b.is_due());
        assert_eq!(b.take().len(), 3);
        assert_eq!(b.room(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn sleeping_until_the_deadline_makes_it_due() {
        let mut b = Batcher::new(5_000, Duration::from_secs(1));
        b.push(());
        tokio::time::sleep_until(b.deadline().unwrap()).await;
        assert!(b.is_due());
        assert_eq!(b.len(), 1);
    }
}

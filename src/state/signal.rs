//! A one-waiter wake-up flag: cheaper than `tokio::sync::Notify` in both the
//! client (one word and a slot for a waker) and the waiting future (none: the
//! connection polls it directly).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::task::{Context, Waker};

/// Raised by fan-out and close requests, consumed by the client's connection task.
#[derive(Debug, Default)]
pub struct Signal {
    raised: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Signal {
    /// Wakes the waiter (if it is not already awake).
    pub fn raise(&self) {
        if !self.raised.swap(true, Ordering::AcqRel) {
            let waker = self.waker.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    /// Clears the flag; true if it was raised since the last call.
    pub fn take(&self) -> bool {
        self.raised.swap(false, Ordering::AcqRel)
    }

    /// Registers the task to be woken by the next `raise`; true if the flag was
    /// raised meanwhile (the caller should look again instead of sleeping).
    pub fn register(&self, cx: &Context<'_>) -> bool {
        {
            let mut slot = self.waker.lock().unwrap_or_else(|e| e.into_inner());
            match slot.as_ref() {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *slot = Some(cx.waker().clone()),
            }
        }
        self.raised.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(std::sync::atomic::AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn raise_wakes_once_and_take_clears() {
        let count = Arc::new(Count(Default::default()));
        let waker = Waker::from(count.clone());
        let cx = Context::from_waker(&waker);
        let s = Signal::default();
        assert!(!s.register(&cx));
        s.raise();
        s.raise();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(s.register(&cx));
        assert!(s.take());
        assert!(!s.take());
    }
}

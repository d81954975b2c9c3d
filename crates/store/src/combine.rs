//! Group commit. On SQLite a statement costs mostly the hand-off to the connection's worker thread, and every
//! write transaction waits for the one writer, so many small concurrent writes of the same shape (single SCIM
//! creates, the engine's link + log records) are cheaper written together. A [`Combiner`] collects the writes
//! submitted while a flush is running and hands them to the next flush as one batch; a write submitted alone is
//! flushed at once, so nothing waits for company. The flush runs in a task of its own: a caller that gives up
//! (a client that hangs up) neither cancels the others' writes nor leaves the combiner stuck.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::oneshot;

/// The most writes one flush takes.
const MAX_BATCH: usize = 250;

/// Collects writes of type `I` whose results are `O`; see the module documentation.
pub(crate) struct Combiner<I, O> {
    state: Mutex<State<I, O>>,
}

struct State<I, O> {
    pending: Vec<(I, oneshot::Sender<O>)>,
    flushing: bool,
}

impl<I, O> std::fmt::Debug for Combiner<I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Combiner").finish_non_exhaustive()
    }
}

impl<I, O> Default for Combiner<I, O> {
    fn default() -> Self {
        Self {
            state: Mutex::new(State {
                pending: Vec::new(),
                flushing: false,
            }),
        }
    }
}

impl<I: Send + 'static, O: Send + 'static> Combiner<I, O> {
    fn lock(&self) -> MutexGuard<'_, State<I, O>> {
        // Nothing panics while holding the lock; a poisoned lock still holds consistent state.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Submits one write and waits for its result. `flush` writes a batch and returns one result per item, in
    /// order; it is used only if this call has to start a flushing task. `None` when the flush failed to give
    /// this item a result (it panicked, or the runtime is shutting down).
    pub(crate) async fn submit<F, Fut>(self: &Arc<Self>, item: I, flush: F) -> Option<O>
    where
        F: Fn(Vec<I>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<O>> + Send,
    {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut state = self.lock();
            state.pending.push((item, tx));
            !std::mem::replace(&mut state.flushing, true)
        };
        if start {
            let this = Arc::clone(self);
            tokio::spawn(async move {
                let _guard = PanicGuard(Arc::clone(&this));
                loop {
                    let batch: Vec<(I, oneshot::Sender<O>)> = {
                        let mut state = this.lock();
                        if state.pending.is_empty() {
                            state.flushing = false;
                            break;
                        }
                        let n = state.pending.len().min(MAX_BATCH);
                        state.pending.drain(..n).collect()
                    };
                    let (items, senders): (Vec<I>, Vec<oneshot::Sender<O>>) = batch.into_iter().unzip();
                    let results = flush(items).await;
                    for (sender, result) in senders.into_iter().zip(results) {
                        // The caller may have gone; its write is done all the same.
                        let _ = sender.send(result);
                    }
                }
            });
        }
        rx.await.ok()
    }
}

/// Unsticks a combiner whose flushing task panicked: the writes waiting are failed (their callers get `None`)
/// and the next submit starts a new flush.
struct PanicGuard<I, O>(Arc<Combiner<I, O>>);

impl<I, O> Drop for PanicGuard<I, O> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut state = self
                .0
                .state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            state.pending.clear();
            state.flushing = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_share_flushes_and_each_gets_its_own_result() {
        let combiner: Arc<Combiner<u32, u32>> = Arc::default();
        let sizes = Arc::new(Mutex::new(Vec::<usize>::new()));
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let mut handles = Vec::new();
        for i in 0..40_u32 {
            let (c, s, g) = (combiner.clone(), sizes.clone(), gate.clone());
            handles.push(tokio::spawn(async move {
                c.submit(i, move |items: Vec<u32>| {
                    let (s, g) = (s.clone(), g.clone());
                    async move {
                        s.lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push(items.len());
                        // No flush finishes before every write has been submitted.
                        let _permit = g.acquire().await;
                        items.into_iter().map(|i| i * 10).collect()
                    }
                })
                .await
            }));
        }
        loop {
            let first = sizes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .first()
                .copied();
            if first.is_some_and(|f| f + combiner.lock().pending.len() == 40) {
                break;
            }
            tokio::task::yield_now().await;
        }
        gate.add_permits(100);
        for (i, h) in (0_u32..).zip(handles) {
            assert_eq!(h.await.ok().flatten(), Some(i * 10));
        }
        // The writes that came while the first flush ran went together in the second.
        let sizes = sizes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        assert!(sizes.len() <= 2, "{sizes:?}");
        assert_eq!(sizes.iter().sum::<usize>(), 40);
    }

    #[tokio::test]
    async fn a_panicking_flush_fails_its_writes_and_the_next_write_goes_through() {
        let combiner: Arc<Combiner<u32, u32>> = Arc::default();
        let failed = combiner
            .submit(1, |_items: Vec<u32>| async move {
                if true {
                    panic!("flush failed");
                }
                Vec::new()
            })
            .await;
        assert_eq!(failed, None);
        let ok = combiner.submit(2, |items: Vec<u32>| async move { items }).await;
        assert_eq!(ok, Some(2));
    }
}

//! The sandboxes an engine (Docker, Kubernetes) created in this process and has not yet
//! removed, and the creations still under way: what Ctrl-C and fatal errors must clean up.

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

#[derive(Clone, Default)]
pub(crate) struct Registry {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    live: Mutex<HashSet<String>>,
    /// Creations under way; [`Registry::settled`] waits for them, since a creation cut off by
    /// cancellation still makes a sandbox on the engine's side.
    creating: AtomicUsize,
    created: Notify,
}

impl Registry {
    /// Runs `create` in a task of its own, so that cancelling the caller cannot lose a sandbox
    /// the engine goes on to make; what `id` names in its result is tracked before the count of
    /// creations under way drops.
    pub async fn create<T, E>(
        &self,
        create: impl Future<Output = Result<T, E>> + Send + 'static,
        id: impl FnOnce(&T) -> Option<String> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: Send + 'static,
    {
        let registry = self.clone();
        self.inner.creating.fetch_add(1, Ordering::SeqCst);
        let task = tokio::spawn(async move {
            let r = create.await;
            if let Some(id) = r.as_ref().ok().and_then(id) {
                registry.track(&id);
            }
            registry.inner.creating.fetch_sub(1, Ordering::SeqCst);
            registry.inner.created.notify_waiters();
            r
        });
        task.await.expect("sandbox creation task panicked")
    }

    pub fn track(&self, id: &str) {
        self.live().insert(id.to_string());
    }

    pub fn untrack(&self, id: &str) {
        self.live().remove(id);
    }

    pub fn count(&self) -> usize {
        self.live().len()
    }

    /// The tracked ids once no creation is under way.
    pub async fn settled(&self) -> Vec<String> {
        loop {
            let created = self.inner.created.notified();
            if self.inner.creating.load(Ordering::SeqCst) == 0 {
                break;
            }
            created.await;
        }
        self.live().iter().cloned().collect()
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.inner.live.lock().expect("sandbox registry lock")
    }
}

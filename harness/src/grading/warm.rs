//! Grading containers started ahead of their instance. Creating and starting a container is
//! Docker's own time (0.2–0.3 s on an internal network on a 2-core machine): started while the
//! instance before it is tested, it no longer adds to each instance's wall time.
//!
//! The runner names an instance's successor (the instance a worker takes up next) as it takes
//! the instance up ([`WarmStarts::plan`]); when the instance's evaluation begins, the
//! successor's container is started ([`WarmStarts::successor`], [`WarmStarts::spawn`]). A run
//! that only refuses patches (`--policy empty`) starts none.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};

use protege_datasets::Task;
use protege_sandboxes::Sandbox;
use protege_sandboxes::docker::DockerSandbox;
use tokio::sync::OwnedMutexGuard;

/// A started container and the image it was started from.
struct Warm {
    image: String,
    sandbox: DockerSandbox,
}

/// One instance's place: locked while its container is being started, so that the instance's
/// evaluation waits for that start instead of racing it with a second one.
type Slot = Arc<tokio::sync::Mutex<Option<Warm>>>;

#[derive(Default)]
pub struct WarmStarts {
    /// Each instance's successor: whose container to start when the instance is evaluated.
    successors: Mutex<HashMap<String, Task>>,
    slots: Mutex<HashMap<String, Slot>>,
    /// Instances that no longer want one (evaluated, or finished without a sandbox).
    done: Mutex<HashSet<String>>,
    /// Starts under way, stopped by [`WarmStarts::close_all`].
    starts: Mutex<tokio::task::JoinSet<()>>,
}

/// The right to fill one instance's place; dropping it unfilled leaves the instance a cold
/// start.
pub struct Reservation(OwnedMutexGuard<Option<Warm>>);

impl Reservation {
    pub fn fill(mut self, image: &str, sandbox: DockerSandbox) {
        *self.0 = Some(Warm {
            image: image.to_string(),
            sandbox,
        });
    }
}

impl WarmStarts {
    /// Names the instance whose container `instance_id`'s evaluation starts.
    pub fn plan(&self, instance_id: &str, next: Task) {
        self.successors
            .lock()
            .expect("lock")
            .insert(instance_id.to_string(), next);
    }

    /// `instance_id`'s successor, reserved (once): `None` when it has none, or it is already
    /// reserved, evaluated or finished.
    pub fn successor(&self, instance_id: &str) -> Option<(Task, Reservation)> {
        let next = self.successors.lock().expect("lock").remove(instance_id)?;
        let reservation = self.reserve(&next.instance_id)?;
        Some((next, reservation))
    }

    fn reserve(&self, instance_id: &str) -> Option<Reservation> {
        let slot = Slot::default();
        let guard = slot
            .clone()
            .try_lock_owned()
            .expect("a mutex nobody else holds is free");
        // `done` before `slots`, the order `claim` takes them in
        let done = self.done.lock().expect("lock");
        let mut slots = self.slots.lock().expect("lock");
        if done.contains(instance_id) || slots.contains_key(instance_id) {
            return None;
        }
        slots.insert(instance_id.to_string(), slot);
        Some(Reservation(guard))
    }

    /// Runs a start in the background, where [`WarmStarts::close_all`] can stop it.
    pub fn spawn(&self, start: impl Future<Output = ()> + Send + 'static) {
        let mut starts = self.starts.lock().expect("lock");
        // finished starts are let go here, so a long run does not hold one entry per instance
        while starts.try_join_next().is_some() {}
        starts.spawn(start);
    }

    /// The container started ahead for `instance_id` from `image` (waiting for a start under
    /// way), once: a second call gets `None`, as does an instance with none. One from another
    /// image (rebuilt or re-pulled meanwhile) is removed, not used.
    pub async fn take(&self, instance_id: &str, image: &str) -> Option<DockerSandbox> {
        let warm = self.claim(instance_id).await?;
        if warm.image == image {
            return Some(warm.sandbox);
        }
        let _ = warm.sandbox.close().await;
        None
    }

    /// Removes `instance_id`'s container if nothing took it (its patch was refused before any
    /// sandbox, its record was kept), and lets none be started for it later.
    pub async fn discard(&self, instance_id: &str) {
        if let Some(warm) = self.claim(instance_id).await {
            let _ = warm.sandbox.close().await;
        }
    }

    async fn claim(&self, instance_id: &str) -> Option<Warm> {
        // a successor named for an instance that finished without an evaluation
        self.successors.lock().expect("lock").remove(instance_id);
        let slot = {
            let mut done = self.done.lock().expect("lock");
            done.insert(instance_id.to_string());
            self.slots.lock().expect("lock").remove(instance_id)
        }?;
        slot.lock().await.take()
    }

    /// Stops the starts under way and removes every container nobody took (a run's end or
    /// stop).
    pub async fn close_all(&self) {
        let mut starts = std::mem::take(&mut *self.starts.lock().expect("lock"));
        starts.abort_all();
        while starts.join_next().await.is_some() {}
        let slots: Vec<Slot> = self
            .slots
            .lock()
            .expect("lock")
            .drain()
            .map(|(_, s)| s)
            .collect();
        for slot in slots {
            if let Some(warm) = slot.lock().await.take() {
                let _ = warm.sandbox.close().await;
            }
        }
    }
}

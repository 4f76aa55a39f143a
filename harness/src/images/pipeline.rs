//! The image pipeline: every pull of a run goes through it, so that pulls can run ahead of
//! grading (the runner's look-ahead asks for the next instances' images while the current ones
//! are graded) without overrunning the registry or the disk:
//!
//! - one pull per image at a time: a worker asking for an image being pulled ahead waits for
//!   that pull;
//! - at most `concurrency` pulls at once, taken in task order (a worker's pull goes before
//!   look-ahead pulls for later instances), and `per_minute` pull attempts in any 60 seconds;
//! - a pull the registry answers with 429 or 5xx is tried again, waiting `backoff`, then twice
//!   that, … (at most [`MAX_BACKOFF`]), up to `retries` more times;
//! - with a disk budget, a pull waits until the instance images the run holds plus the new one
//!   fit, removing (least recently used first) images no unfinished instance needs; pulls are
//!   let in in task order, so a late instance's pull never takes the room an earlier one needs.
//!
//! Only instance images named by the task set (or `--image-template`) are counted and removed:
//! they can be pulled again. Images protege built itself and the base and environment images
//! under them are never touched. Sizes are the engine's (an image's layers shared with other
//! images included), so the budget errs on the side of the disk.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use protege_datasets::Task;
use protege_results::manifest::{Eviction, ImagesReport, PullRecord};
use protege_sandboxes::SandboxError;
use protege_sandboxes::docker::DockerEngine;
use protege_sandboxes::docker::images::{LocalImage, transient_pull_error};
use tokio::sync::{Notify, OnceCell};

use crate::events::{EventSink, RunEvent};

/// The longest wait between two attempts of a pull.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
const MINUTE: Duration = Duration::from_secs(60);

/// How a run pulls (`--image-lookahead`, `--pull-concurrency`, `--pulls-per-minute`,
/// `--pull-retries`, `--disk-budget`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PullSettings {
    /// Instances beyond those started whose images are pulled in advance (0: none).
    pub lookahead: usize,
    pub concurrency: usize,
    /// Pull attempts allowed in any 60 seconds (Docker Hub and mirrors refuse bursts).
    pub per_minute: usize,
    /// Further attempts after a 429 or 5xx.
    pub retries: usize,
    /// The wait before the first retry; each further one doubles it.
    pub backoff: Duration,
    /// The most bytes the run's pullable instance images may hold at once.
    pub disk_budget: Option<u64>,
}

impl Default for PullSettings {
    fn default() -> PullSettings {
        PullSettings {
            lookahead: 0,
            concurrency: 2,
            per_minute: 60,
            retries: 5,
            backoff: Duration::from_secs(1),
            disk_budget: None,
        }
    }
}

/// The wait after failed attempt `attempt` (1-based).
pub fn backoff(first: Duration, attempt: usize) -> Duration {
    let factor = 1u32 << (attempt.saturating_sub(1)).min(16) as u32;
    first.saturating_mul(factor).min(MAX_BACKOFF)
}

pub struct ImagePipeline {
    settings: PullSettings,
    started: Instant,
    events: Option<Arc<dyn EventSink>>,
    /// Starts of the attempts of the last minute (FIFO: waiters are let in in order).
    window: tokio::sync::Mutex<VecDeque<Instant>>,
    state: Mutex<State>,
    /// Told whenever room may have been made or the admission queue moved.
    changed: Notify,
}

#[derive(Default)]
struct State {
    /// Image → its one pull (the image id); removed when the image is evicted.
    pulls: HashMap<String, Arc<OnceCell<Result<String, SandboxError>>>>,
    /// The pullable instance images present, counted against the budget.
    held: HashMap<String, Held>,
    /// Instances not finished → the image names they may run in.
    unfinished: HashMap<String, Vec<String>>,
    /// Instance → its position in the run (admission order).
    order: HashMap<String, usize>,
    started: HashSet<String>,
    /// Instances whose image was found, pulled, or failed to be.
    resolved: HashSet<String>,
    /// Instances whose pull was let in and is not done.
    admitted: HashSet<String>,
    /// Attempts waiting for a pull slot: (order, sequence); and the slots taken.
    slot_queue: BTreeSet<(usize, u64)>,
    slot_seq: u64,
    slots_busy: usize,
    /// Bytes set aside for admitted pulls not yet done, and how many there are.
    reserved: u64,
    in_flight: usize,
    /// The largest instance image seen: the estimate of the next one.
    largest: u64,
    /// LRU clock.
    clock: u64,
    report: ImagesReport,
}

#[derive(Debug, Clone, PartialEq)]
struct Held {
    bytes: u64,
    last_used: u64,
    /// The engine refused to remove it (a container outside the run uses it): never picked again.
    stuck: bool,
}

impl State {
    fn used(&self) -> u64 {
        self.held.values().map(|h| h.bytes).sum()
    }

    /// The earliest instance still waiting for its image (pulls are let in in this order, so
    /// that a look-ahead pull never takes the room an earlier instance needs).
    fn first_needy(&self) -> Option<usize> {
        self.unfinished
            .keys()
            .filter(|id| !self.resolved.contains(*id) && !self.admitted.contains(*id))
            .filter_map(|id| self.order.get(id).copied())
            .min()
    }

    fn needed(&self, image: &str) -> bool {
        self.unfinished
            .values()
            .any(|names| names.iter().any(|n| n == image))
    }

    fn touch(&mut self, image: &str) {
        self.clock += 1;
        let clock = self.clock;
        if let Some(h) = self.held.get_mut(image) {
            h.last_used = clock;
        }
    }

    fn hold(&mut self, image: &str, bytes: u64) {
        self.clock += 1;
        self.held.insert(
            image.to_string(),
            Held {
                bytes,
                last_used: self.clock,
                stuck: false,
            },
        );
        self.largest = self.largest.max(bytes);
        let used = self.used();
        self.report.peak_bytes = self.report.peak_bytes.max(used);
        self.report.peak_images = self.report.peak_images.max(self.held.len());
    }
}

/// Which held images to remove, least recently used first, to free `need` bytes: those no
/// unfinished instance needs. Fewer than `need` bytes when that is all there is.
fn victims(held: &HashMap<String, Held>, needed: impl Fn(&str) -> bool, need: u64) -> Vec<String> {
    let mut free: Vec<(&String, &Held)> = held
        .iter()
        .filter(|(name, h)| !h.stuck && !needed(name))
        .collect();
    free.sort_by_key(|(name, h)| (h.last_used, (*name).clone()));
    let mut freed = 0;
    let mut out = Vec::new();
    for (name, h) in free {
        if freed >= need {
            break;
        }
        freed += h.bytes;
        out.push(name.clone());
    }
    out
}

impl Default for ImagePipeline {
    fn default() -> ImagePipeline {
        ImagePipeline::new(PullSettings::default(), None)
    }
}

impl ImagePipeline {
    pub fn new(settings: PullSettings, events: Option<Arc<dyn EventSink>>) -> ImagePipeline {
        let report = ImagesReport {
            lookahead: settings.lookahead,
            pull_concurrency: settings.concurrency.max(1),
            pulls_per_minute: settings.per_minute.max(1),
            pull_retries: settings.retries,
            disk_budget_bytes: settings.disk_budget,
            ..Default::default()
        };
        ImagePipeline {
            settings,
            started: Instant::now(),
            events,
            window: tokio::sync::Mutex::default(),
            state: Mutex::new(State {
                report,
                ..Default::default()
            }),
            changed: Notify::new(),
        }
    }

    pub fn settings(&self) -> &PullSettings {
        &self.settings
    }

    fn ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn emit(&self, event: RunEvent) {
        if let Some(sink) = &self.events {
            sink.emit(&event);
        }
    }

    /// The run's instances in order (those graded in Docker): which images each may need, so
    /// that none is removed before its instance is done, and the order pulls are let in.
    pub fn plan<'a>(&self, tasks: impl IntoIterator<Item = &'a Task>) {
        let mut st = self.state.lock().expect("lock");
        for (i, task) in tasks.into_iter().enumerate() {
            st.order.insert(task.instance_id.clone(), i);
            st.unfinished
                .insert(task.instance_id.clone(), super::pullable_names(task));
        }
    }

    /// A worker took the instance up (pulls for it from now on are not look-ahead ones).
    pub fn started(&self, instance_id: &str) {
        let mut st = self.state.lock().expect("lock");
        st.started.insert(instance_id.to_string());
    }

    /// The instance is done: its images may be removed when room is needed.
    pub fn finished(&self, instance_id: &str) {
        {
            let mut st = self.state.lock().expect("lock");
            if let Some(names) = st.unfinished.remove(instance_id) {
                for n in names {
                    st.touch(&n);
                }
            }
        }
        self.changed.notify_waiters();
    }

    /// The instance's image was found or pulled, or cannot be had: later pulls need not wait
    /// for it.
    pub fn resolved(&self, instance_id: &str) {
        self.state
            .lock()
            .expect("lock")
            .resolved
            .insert(instance_id.to_string());
        self.changed.notify_waiters();
    }

    /// A pullable instance image found present: counted against the budget from now on.
    pub fn note_present(&self, image: &str, local: &LocalImage) {
        let mut st = self.state.lock().expect("lock");
        if st.held.contains_key(image) {
            st.touch(image);
        } else {
            st.hold(image, local.size);
            st.report.present.push(image.to_string());
        }
    }

    /// What the pipeline did, for the manifest.
    pub fn report(&self) -> ImagesReport {
        let st = self.state.lock().expect("lock");
        let mut r = st.report.clone();
        r.pulls.sort_by_key(|p| p.done_ms);
        r
    }

    /// Pulls `image` for `instance_id` (or waits for the pull already under way); the image id.
    pub async fn pull(
        &self,
        engine: &DockerEngine,
        image: &str,
        instance_id: &str,
    ) -> Result<String, SandboxError> {
        let cell = {
            let mut st = self.state.lock().expect("lock");
            st.pulls.entry(image.to_string()).or_default().clone()
        };
        cell.get_or_init(|| self.pull_fresh(engine, image, instance_id))
            .await
            .clone()
    }

    async fn pull_fresh(
        &self,
        engine: &DockerEngine,
        image: &str,
        instance_id: &str,
    ) -> Result<String, SandboxError> {
        let asked = Instant::now();
        let ahead = !self
            .state
            .lock()
            .expect("lock")
            .started
            .contains(instance_id);
        let admitted = self.admit(engine, instance_id).await;
        let (result, attempts_ms) = self.attempts(engine, image, instance_id).await;
        let bytes = match &result {
            Ok(_) => engine
                .local_image(image)
                .await
                .ok()
                .flatten()
                .map_or(0, |l| l.size),
            Err(_) => 0,
        };
        let ms = asked.elapsed().as_millis() as u64;
        {
            let mut st = self.state.lock().expect("lock");
            if result.is_ok() {
                st.hold(image, bytes);
            }
            st.resolved.insert(instance_id.to_string());
            st.report.pull_ms += ms;
            st.report.pulls.push(PullRecord {
                image: image.to_string(),
                instance_id: instance_id.to_string(),
                attempts_ms: attempts_ms.clone(),
                done_ms: self.ms(),
                bytes,
                error: result.as_ref().err().map(|e| e.to_string()),
                ahead,
            });
        }
        drop(admitted);
        if result.is_ok() {
            self.emit(RunEvent::ImagePulled {
                instance_id: instance_id.to_string(),
                image: image.to_string(),
                ms,
                attempts: attempts_ms.len(),
                bytes,
                ahead,
            });
        }
        result
    }

    /// Waits until the pull fits the disk budget (evicting what may go) and every earlier
    /// instance has its image or its pull; the returned guard holds the room set aside until
    /// the pull is done (or abandoned).
    async fn admit(&self, engine: &DockerEngine, instance_id: &str) -> Admitted<'_> {
        let admitted = |st: &mut State, reserved: u64| {
            st.reserved += reserved;
            st.in_flight += 1;
            st.admitted.insert(instance_id.to_string());
            Admitted {
                pipeline: self,
                instance_id: instance_id.to_string(),
                reserved,
            }
        };
        let Some(budget) = self.settings.disk_budget else {
            return admitted(&mut self.state.lock().expect("lock"), 0);
        };
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let evict: Vec<(String, u64)> = {
                let mut st = self.state.lock().expect("lock");
                let mine = st.order.get(instance_id).copied().unwrap_or(usize::MAX);
                if st.first_needy().is_some_and(|first| first < mine) {
                    Vec::new()
                } else {
                    let est = st.largest;
                    let taken = st.used() + st.reserved;
                    // An unknown size (nothing pulled yet) is learnt from one pull at a time; an
                    // image larger than the whole budget still runs, alone.
                    let known = est > 0 || st.in_flight == 0;
                    let fits = taken + est <= budget || (taken == 0 && st.in_flight == 0);
                    if known && fits {
                        let guard = admitted(&mut st, est);
                        drop(st);
                        self.changed.notify_waiters();
                        return guard;
                    }
                    let need = (taken + est).saturating_sub(budget);
                    let names = victims(&st.held, |n| st.needed(n), need);
                    names
                        .into_iter()
                        .map(|n| {
                            let h = st.held.remove(&n).expect("a held image");
                            st.pulls.remove(&n);
                            (n, h.bytes)
                        })
                        .collect()
                }
            };
            if evict.is_empty() {
                notified.await;
                continue;
            }
            for (image, bytes) in evict {
                self.evict(engine, &image, bytes).await;
            }
        }
    }

    async fn evict(&self, engine: &DockerEngine, image: &str, bytes: u64) {
        let result = engine.remove_image(image).await;
        let mut st = self.state.lock().expect("lock");
        let error = result.err().map(|e| e.to_string());
        if error.is_some() {
            // Still there: it counts, and is not tried again.
            st.clock += 1;
            let last_used = st.clock;
            st.held.insert(
                image.to_string(),
                Held {
                    bytes,
                    last_used,
                    stuck: true,
                },
            );
        }
        let at_ms = self.ms();
        st.report.evictions.push(Eviction {
            image: image.to_string(),
            bytes,
            at_ms,
            error: error.clone(),
        });
        drop(st);
        if error.is_none() {
            self.emit(RunEvent::ImageEvicted {
                image: image.to_string(),
                bytes,
            });
        }
    }

    /// The pull's attempts, within the concurrency and rate caps; the result and when each
    /// attempt started.
    async fn attempts(
        &self,
        engine: &DockerEngine,
        image: &str,
        instance_id: &str,
    ) -> (Result<String, SandboxError>, Vec<u64>) {
        let mut starts = Vec::new();
        loop {
            let result = {
                let _slot = self.slot(instance_id).await;
                self.rate_slot().await;
                starts.push(self.ms());
                engine.pull(image, &|_| {}).await
            };
            let attempt = starts.len();
            match result {
                Err(e)
                    if attempt <= self.settings.retries && transient_pull_error(&e.to_string()) =>
                {
                    let wait = backoff(self.settings.backoff, attempt);
                    self.emit(RunEvent::ImagePullRetry {
                        instance_id: instance_id.to_string(),
                        image: image.to_string(),
                        attempt,
                        wait_ms: wait.as_millis() as u64,
                        reason: crate::events::one_line(&e.to_string(), 200),
                    });
                    tokio::time::sleep(wait).await;
                }
                r => return (r, starts),
            }
        }
    }

    /// Waits for one of the `concurrency` pull slots; the earliest instance waiting gets the
    /// next one free.
    async fn slot(&self, instance_id: &str) -> Slot<'_> {
        let queued = {
            let mut st = self.state.lock().expect("lock");
            st.slot_seq += 1;
            let key = (
                st.order.get(instance_id).copied().unwrap_or(usize::MAX),
                st.slot_seq,
            );
            st.slot_queue.insert(key);
            SlotQueued {
                pipeline: self,
                key,
            }
        };
        let concurrency = self.settings.concurrency.max(1);
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = self.state.lock().expect("lock");
                if st.slots_busy < concurrency && st.slot_queue.first() == Some(&queued.key) {
                    st.slot_queue.remove(&queued.key);
                    st.slots_busy += 1;
                    return Slot { pipeline: self };
                }
            }
            notified.await;
        }
    }

    /// Waits until an attempt may start within `per_minute`, and counts it.
    async fn rate_slot(&self) {
        let cap = self.settings.per_minute.max(1);
        let mut window = self.window.lock().await;
        loop {
            let now = Instant::now();
            while window
                .front()
                .is_some_and(|t| now.duration_since(*t) >= MINUTE)
            {
                window.pop_front();
            }
            if window.len() < cap {
                window.push_back(now);
                return;
            }
            let until = *window.front().expect("a full window") + MINUTE;
            tokio::time::sleep_until(until.into()).await;
        }
    }
}

/// An attempt waiting for a slot; leaves the queue when dropped (a cancelled pull).
struct SlotQueued<'a> {
    pipeline: &'a ImagePipeline,
    key: (usize, u64),
}

impl Drop for SlotQueued<'_> {
    fn drop(&mut self) {
        let mut st = self.pipeline.state.lock().expect("lock");
        if st.slot_queue.remove(&self.key) {
            drop(st);
            self.pipeline.changed.notify_waiters();
        }
    }
}

/// A pull slot, given back when dropped.
struct Slot<'a> {
    pipeline: &'a ImagePipeline,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.pipeline.state.lock().expect("lock").slots_busy -= 1;
        self.pipeline.changed.notify_waiters();
    }
}

/// An admitted pull: the room set aside is given back when it is dropped.
struct Admitted<'a> {
    pipeline: &'a ImagePipeline,
    instance_id: String,
    reserved: u64,
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        let mut st = self.pipeline.state.lock().expect("lock");
        st.reserved -= self.reserved;
        st.in_flight -= 1;
        st.admitted.remove(&self.instance_id);
        drop(st);
        self.pipeline.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(entries: &[(&str, u64, u64)]) -> HashMap<String, Held> {
        entries
            .iter()
            .map(|(n, bytes, last_used)| {
                (
                    n.to_string(),
                    Held {
                        bytes: *bytes,
                        last_used: *last_used,
                        stuck: false,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn victims_are_the_least_recently_used_unneeded_ones() {
        let h = held(&[("a", 10, 3), ("b", 10, 1), ("c", 10, 2), ("d", 10, 0)]);
        // d is needed by an unfinished instance: never removed, however old
        let needed = |n: &str| n == "d";
        assert_eq!(victims(&h, needed, 15), ["b", "c"]);
        assert_eq!(victims(&h, needed, 1), ["b"]);
        assert!(victims(&h, needed, 0).is_empty());
        // all there is, when that is not enough
        assert_eq!(victims(&h, needed, 100), ["b", "c", "a"]);
    }

    #[test]
    fn stuck_images_are_not_picked_again() {
        let mut h = held(&[("a", 10, 0), ("b", 10, 1)]);
        h.get_mut("a").unwrap().stuck = true;
        assert_eq!(victims(&h, |_| false, 10), ["b"]);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let s = Duration::from_secs(1);
        assert_eq!(backoff(s, 1), Duration::from_secs(1));
        assert_eq!(backoff(s, 2), Duration::from_secs(2));
        assert_eq!(backoff(s, 4), Duration::from_secs(8));
        assert_eq!(backoff(s, 30), MAX_BACKOFF);
    }

    #[test]
    fn finished_instances_release_their_images() {
        let p = ImagePipeline::default();
        let task = protege_datasets::Task::from_json(&serde_json::json!({
            "instance_id": "o__r-1", "repo": "o/r", "base_commit": "0", "version": "1",
            "problem_statement": "", "patch": "", "test_patch": "",
            "FAIL_TO_PASS": [], "PASS_TO_PASS": []
        }))
        .unwrap();
        p.plan([&task]);
        let name = super::super::pullable_names(&task)[0].clone();
        p.note_present(
            &name,
            &LocalImage {
                id: "sha256:1".into(),
                size: 5,
                last_tagged: String::new(),
            },
        );
        {
            let st = p.state.lock().unwrap();
            assert!(st.needed(&name));
            assert!(victims(&st.held, |n| st.needed(n), 5).is_empty());
        }
        p.finished("o__r-1");
        let st = p.state.lock().unwrap();
        assert_eq!(victims(&st.held, |n| st.needed(n), 5), [name]);
        assert_eq!(st.report.peak_bytes, 5);
        assert_eq!(st.report.present.len(), 1);
    }
}

//! GGUF files through llama.cpp (crate `llama-cpp-sys-2`, which vendors and builds it), with
//! continuous batching: every call in flight on one model is a sequence of one `llama_batch`.
//!
//! One engine thread owns the llama.cpp context. It holds `parallel` slots, each a sequence id
//! with its own KV stream (`kv_unified` off, so a sequence's attention never sees another's
//! cells and its numbers do not depend on who else is in the batch). A call takes a free slot —
//! the one whose cached tokens share the longest prefix with its prompt, so an agent's next turn
//! reuses its own cache — and joins the batch at the next step; each step decodes one token of
//! every sequence that is generating, plus prompt chunks of those that joined, and samples each
//! sequence with its own seeded [`Sampler`] (the same sampler as candle). A call that ends (stop
//! token, length, a dropped receiver) leaves the batch before the next step. Calls beyond the
//! slots wait for one.
//!
//! Tokenization, the chat template and stop strings stay in [`CandleModel`]'s shared code; this
//! module only turns prompt token ids into sampled token ids.
//!
//! [`CandleModel`]: super::candle::CandleModel

mod ffi;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;

use super::candle::{Flow, OnToken, Run};
use super::sampling::Sampler;
use super::{GenParams, LmError};

pub use ffi::system_info;

/// How to run the engine.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Sequences decoded together.
    pub parallel: usize,
    /// Tokens of context per sequence.
    pub context: usize,
    pub threads: usize,
    /// Prompt tokens fed per step (shared by the sequences that are prefilling).
    pub batch: usize,
    /// Token ids that end a sequence.
    pub stop_ids: Vec<u32>,
}

/// What a sequence sends its caller.
enum Event {
    /// The prompt is in the cache; `reused` of its tokens were already there.
    Started {
        reused: usize,
    },
    /// A sampled token, with the logits it was sampled from when log-probabilities were asked.
    Token(u32, Vec<f32>),
    /// No more tokens; `window_full` when the context window ended it.
    End {
        window_full: bool,
    },
    Failed(String),
}

struct Request {
    prompt: Vec<u32>,
    max_new: usize,
    params: GenParams,
    events: Sender<Event>,
}

/// A GGUF model on its engine thread. Dropping it stops the thread.
pub struct Engine {
    requests: Option<Sender<Request>>,
    thread: Option<JoinHandle<()>>,
    /// The most sequences one step has decoded together.
    peak: Arc<AtomicUsize>,
    pub path: PathBuf,
    pub options: EngineOptions,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("path", &self.path)
            .field("options", &self.options)
            .finish()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.requests.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Engine {
    /// Load `path` on a new engine thread; returns once the model and context are ready.
    pub fn load(path: &Path, options: EngineOptions) -> Result<Engine, LmError> {
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), LmError>>();
        let (req_tx, req_rx) = mpsc::channel::<Request>();
        let p = path.to_path_buf();
        let o = options.clone();
        let peak = Arc::new(AtomicUsize::new(0));
        let pk = peak.clone();
        let thread = std::thread::Builder::new()
            .name("llama-engine".into())
            .spawn(move || engine_main(&p, &o, req_rx, ready_tx, &pk))
            .map_err(|e| LmError::Backend(format!("cannot start the llama.cpp thread: {e}")))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Engine {
                requests: Some(req_tx),
                thread: Some(thread),
                peak,
                path: path.to_path_buf(),
                options,
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(LmError::Backend(format!(
                    "{}: the llama.cpp thread ended while loading",
                    path.display()
                )))
            }
        }
    }

    /// The most sequences one step has decoded together so far.
    pub fn peak_batch(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// Generate from `prompt`: each sampled token goes to `on_token` (with its logits when
    /// `params.logprobs` asks for them, else an empty slice) until it answers [`Flow::Done`],
    /// `max_new` tokens, or the window is full. Blocking; many callers may run at once.
    pub(crate) fn generate(
        &self,
        prompt: &[u32],
        max_new: usize,
        params: &GenParams,
        on_token: &mut OnToken<'_>,
    ) -> Result<Run, LmError> {
        if prompt.is_empty() {
            return Err(LmError::Request("the prompt is empty".into()));
        }
        if prompt.len() >= self.options.context {
            return Err(LmError::PromptTooLong {
                tokens: prompt.len(),
                context: self.options.context,
            });
        }
        let (tx, rx) = mpsc::channel();
        let gone = || LmError::Backend("the llama.cpp engine thread has stopped".into());
        self.requests
            .as_ref()
            .ok_or_else(gone)?
            .send(Request {
                prompt: prompt.to_vec(),
                max_new,
                params: params.clone(),
                events: tx,
            })
            .map_err(|_| gone())?;
        let mut reused = 0;
        loop {
            match rx.recv().map_err(|_| gone())? {
                Event::Started { reused: r } => reused = r,
                Event::Token(t, logits) => {
                    if let Flow::Done = on_token(t, &logits)? {
                        // Dropping `rx` takes the sequence out of the batch at the next step.
                        return Ok(Run {
                            reused,
                            window_full: false,
                        });
                    }
                }
                Event::End { window_full } => {
                    return Ok(Run {
                        reused,
                        window_full,
                    });
                }
                Event::Failed(e) => return Err(LmError::Backend(format!("llama.cpp: {e}"))),
            }
        }
    }
}

/// A sequence being generated.
struct Job {
    prompt: Vec<u32>,
    /// Prompt tokens in the cache.
    fed: usize,
    sampler: Sampler,
    max_new: usize,
    produced: usize,
    /// The last sampled token, fed at the next step.
    last: Option<u32>,
    logits: bool,
    events: Sender<Event>,
}

/// One sequence id and its KV stream.
struct Slot {
    /// The tokens whose keys and values the stream holds.
    tokens: Vec<u32>,
    /// The last prompt fed and the logits after it, so the same prompt again (a retry, a
    /// second sample) starts from them without running its last token again.
    snapshot: Option<(Vec<u32>, Vec<f32>)>,
    job: Option<Job>,
}

/// Sample `s`'s next token from `logits` and send it; end the job when it is done.
fn deliver(s: &mut Slot, logits: &[f32], o: &EngineOptions) {
    let Some(j) = s.job.as_mut() else { return };
    let next = j.sampler.sample(logits);
    j.produced += 1;
    let sent = j
        .events
        .send(Event::Token(
            next,
            if j.logits {
                logits.to_vec()
            } else {
                Vec::new()
            },
        ))
        .is_ok();
    let end = if !sent || o.stop_ids.contains(&next) || j.produced >= j.max_new {
        Some(false)
    } else if s.tokens.len() >= o.context {
        Some(true)
    } else {
        None
    };
    match end {
        Some(window_full) => {
            if let Some(j) = s.job.take() {
                let _ = j.events.send(Event::End { window_full });
            }
        }
        None => j.last = Some(next),
    }
}

fn engine_main(
    path: &Path,
    o: &EngineOptions,
    requests: Receiver<Request>,
    ready: Sender<Result<(), LmError>>,
    peak: &AtomicUsize,
) {
    let fail = |m: String| LmError::Model(format!("{}: {m}", path.display()));
    let model = match ffi::Model::load(path) {
        Ok(m) => m,
        Err(e) => {
            let _ = ready.send(Err(fail(e)));
            return;
        }
    };
    let parallel = o.parallel.max(1);
    let params = ffi::ContextParams {
        n_ctx: (o.context * parallel) as u32,
        n_batch: o.batch.max(parallel) as u32,
        n_seq_max: parallel as u32,
        threads: o.threads as i32,
        kv_unified: false,
    };
    let mut ctx = match ffi::Context::new(&model, &params) {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(fail(e)));
            return;
        }
    };
    let _ = ready.send(Ok(()));

    let mut slots: Vec<Slot> = (0..parallel)
        .map(|_| Slot {
            tokens: Vec::new(),
            snapshot: None,
            job: None,
        })
        .collect();
    let mut waiting: VecDeque<Request> = VecDeque::new();
    let mut batch = ffi::Batch::new(o.batch.max(parallel));
    let mut open = true;
    loop {
        // Take new calls: block only when nothing is generating.
        let busy = slots.iter().any(|s| s.job.is_some());
        if !busy && waiting.is_empty() {
            if !open {
                return;
            }
            match requests.recv() {
                Ok(r) => waiting.push_back(r),
                Err(_) => return,
            }
        }
        loop {
            match requests.recv_timeout(std::time::Duration::ZERO) {
                Ok(r) => waiting.push_back(r),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    open = false;
                    break;
                }
            }
        }
        while let Some(free) = best_slot(&slots, waiting.front().map(|r| r.prompt.as_slice())) {
            let r = waiting.pop_front().expect("front checked");
            let slot = &mut slots[free];
            let common = slot
                .tokens
                .iter()
                .zip(&r.prompt)
                .take_while(|(a, b)| a == b)
                .count();
            // The same prompt as last time: its logits are kept. Otherwise the last prompt token
            // is fed again, since its logits start the reply.
            let again = common == r.prompt.len()
                && slot.snapshot.as_ref().is_some_and(|(p, _)| *p == r.prompt);
            let keep = if again {
                common
            } else {
                common.min(r.prompt.len() - 1)
            };
            if !ctx.seq_rm(free as i32, keep as i32) {
                let _ = r
                    .events
                    .send(Event::Failed("cannot trim the KV cache".into()));
                continue;
            }
            slot.tokens.truncate(keep);
            if r.events.send(Event::Started { reused: keep }).is_err() {
                continue;
            }
            if !again {
                slot.snapshot = None;
            }
            slot.job = Some(Job {
                fed: keep,
                sampler: Sampler::new(&r.params),
                max_new: r.max_new,
                produced: 0,
                last: None,
                logits: r.params.logprobs.is_some(),
                prompt: r.prompt,
                events: r.events,
            });
            if again && let Some((p, logits)) = slot.snapshot.take() {
                deliver(slot, &logits, o);
                slot.snapshot = Some((p, logits));
            }
        }
        if slots.iter().all(|s| s.job.is_none()) {
            continue;
        }

        // One step: a token for every generating sequence, then prompt chunks in the room left.
        batch.clear();
        // (slot, batch row, whether the row ends a prompt) for each row whose logits are read.
        let mut rows: Vec<(usize, i32, bool)> = Vec::new();
        let mut added: Vec<(usize, usize)> = Vec::new();
        let mut room = o.batch.max(parallel);
        for (i, s) in slots.iter().enumerate() {
            if let Some(Job { last: Some(t), .. }) = &s.job {
                let idx = batch.n_tokens() as i32;
                if batch.add(*t, s.tokens.len(), i as i32, true) {
                    rows.push((i, idx, false));
                    added.push((i, 1));
                    room -= 1;
                }
            }
        }
        for (i, s) in slots.iter().enumerate() {
            let Some(j) = &s.job else { continue };
            if j.last.is_some() || room == 0 {
                continue;
            }
            let n = (j.prompt.len() - j.fed).min(room);
            for (k, &t) in j.prompt[j.fed..j.fed + n].iter().enumerate() {
                let last = j.fed + k + 1 == j.prompt.len();
                let idx = batch.n_tokens() as i32;
                // Cannot fail: `room` never exceeds the batch's free places.
                batch.add(t, s.tokens.len() + k, i as i32, last);
                if last {
                    rows.push((i, idx, true));
                }
            }
            added.push((i, n));
            room -= n;
        }
        peak.fetch_max(added.len(), Ordering::Relaxed);
        if let Err(rc) = ctx.decode(&batch) {
            // The cache of every sequence in this step is in an unknown state: start them over.
            for (i, _) in &added {
                let s = &mut slots[*i];
                ctx.seq_rm(*i as i32, 0);
                s.tokens.clear();
                s.snapshot = None;
                if let Some(j) = s.job.take() {
                    let _ = j
                        .events
                        .send(Event::Failed(format!("llama_decode returned {rc}")));
                }
            }
            continue;
        }
        for (i, n) in added {
            let s = &mut slots[i];
            let Some(j) = s.job.as_mut() else { continue };
            match j.last.take() {
                Some(t) => s.tokens.push(t),
                None => {
                    s.tokens.extend_from_slice(&j.prompt[j.fed..j.fed + n]);
                    j.fed += n;
                }
            }
        }
        for (i, idx, prefill) in rows {
            let s = &mut slots[i];
            let Some(logits) = ctx.logits(idx) else {
                if let Some(j) = s.job.take() {
                    let _ = j
                        .events
                        .send(Event::Failed(format!("no logits for row {idx}")));
                }
                continue;
            };
            if prefill && let Some(j) = &s.job {
                s.snapshot = Some((j.prompt.clone(), logits.to_vec()));
            }
            deliver(s, logits, o);
        }
    }
}

/// The free slot for a call with `prompt`: the one sharing the longest prefix with it, else the
/// emptiest (lowest id on ties). `None`: no call waiting, or every slot busy.
fn best_slot(slots: &[Slot], prompt: Option<&[u32]>) -> Option<usize> {
    let prompt = prompt?;
    slots
        .iter()
        .enumerate()
        .filter(|(_, s)| s.job.is_none())
        .map(|(i, s)| {
            let common = s
                .tokens
                .iter()
                .zip(prompt)
                .take_while(|(a, b)| a == b)
                .count();
            (i, common, s.tokens.len())
        })
        .max_by(|a, b| a.1.cmp(&b.1).then(b.2.cmp(&a.2)).then(b.0.cmp(&a.0)))
        .map(|(i, _, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(tokens: &[u32], busy: bool) -> Slot {
        Slot {
            tokens: tokens.to_vec(),
            snapshot: None,
            job: busy.then(|| Job {
                prompt: vec![1],
                fed: 0,
                sampler: Sampler::new(&GenParams::greedy(1)),
                max_new: 1,
                produced: 0,
                last: None,
                logits: false,
                events: mpsc::channel().0,
            }),
        }
    }

    #[test]
    fn a_call_takes_the_free_slot_holding_its_prefix() {
        let slots = [
            slot(&[1, 2, 3], false),
            slot(&[7, 8], false),
            slot(&[], false),
        ];
        assert_eq!(best_slot(&slots, Some(&[7, 8, 9])), Some(1));
        // No shared prefix: the empty slot, not one holding another conversation.
        assert_eq!(best_slot(&slots, Some(&[5])), Some(2));
        let slots = [slot(&[7, 8], true), slot(&[1], false)];
        assert_eq!(best_slot(&slots, Some(&[7, 8, 9])), Some(1));
        let slots = [slot(&[], true)];
        assert_eq!(best_slot(&slots, Some(&[1])), None);
        assert_eq!(best_slot(&slots, None), None);
    }
}

//! Bounded-concurrency task runner that does not let runaway queries serialise.
//!
//! `jobs` bounds how many tasks run at once — as long as they are quick. A task whose current SQL
//! execution has lasted longer than `demote_after` stops counting against `jobs` (it is
//! "demoted" to a slow lane) and, if no idle worker is left, a new worker thread is started to
//! take the next task. The demoted query keeps running until it finishes or its own timeout
//! interrupts the engine. So ten runaway queries with a 1 s timeout and `--jobs 2` all wait out
//! their timeouts side by side, about 1 s in total instead of 5 s, while the other questions
//! keep going. Only SQL execution is demoted (see [`TaskContext::executing`]): time spent
//! generating a prediction with a model stays bounded by `jobs`.
//!
//! At most [`MAX_SLOW_WORKERS`] extra threads are started; beyond that, slow tasks do count
//! against `jobs` again (a pathological file of thousands of runaway queries degrades to
//! `MAX_SLOW_WORKERS`-way parallel timeouts, not to unbounded threads).

use std::panic::AssertUnwindSafe;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// The most worker threads started on top of `jobs` for demoted tasks.
pub const MAX_SLOW_WORKERS: usize = 64;

#[derive(Default)]
struct Worker {
    /// When the current SQL execution of this worker's task started.
    executing_since: Option<Instant>,
    /// The current task no longer counts against `jobs`.
    demoted: bool,
}

struct State {
    next: usize,
    done: usize,
    active: usize,
    idle: usize,
    workers: Vec<Worker>,
    panic: Option<Box<dyn std::any::Any + Send>>,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    count: usize,
    jobs: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Handed to each task: marks the phases in which the task may be demoted.
pub struct TaskContext<'a> {
    shared: &'a Shared,
    worker: usize,
}

impl TaskContext<'_> {
    /// Run `f` (one SQL execution) as a phase that may be demoted to the slow lane when it
    /// lasts longer than the scheduler's `demote_after`.
    pub fn executing<R>(&self, f: impl FnOnce() -> R) -> R {
        self.shared.lock().workers[self.worker].executing_since = Some(Instant::now());
        let result = f();
        self.shared.lock().workers[self.worker].executing_since = None;
        result
    }
}

/// Run `task(i, context)` for every `i` in `0..count` on worker threads, at most `jobs` at once
/// except for demoted tasks (see the module docs). Returns when all tasks are done. A panic in a
/// task is re-raised here after the other tasks finished.
pub fn run_tasks<F>(count: usize, jobs: usize, demote_after: Duration, task: F)
where
    F: Fn(usize, &TaskContext<'_>) + Sync,
{
    if count == 0 {
        return;
    }
    let jobs = jobs.max(1);
    let shared = Shared {
        state: Mutex::new(State {
            next: 0,
            done: 0,
            active: 0,
            idle: 0,
            workers: Vec::new(),
            panic: None,
        }),
        changed: Condvar::new(),
        count,
        jobs,
    };
    let initial = jobs.min(count);
    std::thread::scope(|scope| {
        for _ in 0..initial {
            let worker = {
                let mut state = shared.lock();
                state.workers.push(Worker::default());
                state.workers.len() - 1
            };
            let (shared, task) = (&shared, &task);
            scope.spawn(move || work(shared, worker, task));
        }
        // The monitor: demote long executions and start workers for them.
        let tick = (demote_after / 4).clamp(Duration::from_millis(1), Duration::from_millis(25));
        let mut state = shared.lock();
        while state.done < count {
            let mut demoted = 0;
            for worker in state.workers.iter_mut() {
                if !worker.demoted
                    && worker
                        .executing_since
                        .is_some_and(|t| t.elapsed() >= demote_after)
                {
                    worker.demoted = true;
                    demoted += 1;
                }
            }
            if demoted > 0 {
                state.active -= demoted;
                let spare = (initial + MAX_SLOW_WORKERS).saturating_sub(state.workers.len());
                let wanted = demoted
                    .saturating_sub(state.idle)
                    .min(spare)
                    .min(count - state.next);
                for _ in 0..wanted {
                    state.workers.push(Worker::default());
                    let worker = state.workers.len() - 1;
                    let (shared, task) = (&shared, &task);
                    scope.spawn(move || work(shared, worker, task));
                }
                shared.changed.notify_all();
            }
            state = shared
                .changed
                .wait_timeout(state, tick)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let panic = state.panic.take();
        drop(state);
        if let Some(panic) = panic {
            std::panic::resume_unwind(panic);
        }
    });
}

fn work<F>(shared: &Shared, worker: usize, task: &F)
where
    F: Fn(usize, &TaskContext<'_>) + Sync,
{
    let context = TaskContext { shared, worker };
    loop {
        let index = {
            let mut state = shared.lock();
            state.idle += 1;
            while state.next < shared.count && state.active >= shared.jobs {
                state = shared
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            state.idle -= 1;
            if state.next >= shared.count {
                return;
            }
            let index = state.next;
            state.next += 1;
            state.active += 1;
            state.workers[worker] = Worker::default();
            index
        };
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| task(index, &context)));
        let mut state = shared.lock();
        if !state.workers[worker].demoted {
            state.active -= 1;
        }
        state.workers[worker] = Worker::default();
        state.done += 1;
        if let Err(panic) = outcome {
            state.panic.get_or_insert(panic);
        }
        shared.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn every_task_runs_once_and_concurrency_stays_bounded() {
        let seen: Vec<AtomicUsize> = (0..200).map(|_| AtomicUsize::new(0)).collect();
        let (running, peak) = (AtomicUsize::new(0), AtomicUsize::new(0));
        run_tasks(200, 3, Duration::from_secs(10), |i, context| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            context.executing(|| std::thread::sleep(Duration::from_micros(200)));
            seen[i].fetch_add(1, Ordering::SeqCst);
            running.fetch_sub(1, Ordering::SeqCst);
        });
        assert!(seen.iter().all(|n| n.load(Ordering::SeqCst) == 1));
        assert!(
            peak.load(Ordering::SeqCst) <= 3,
            "peak {}",
            peak.load(Ordering::SeqCst)
        );
    }

    #[test]
    fn slow_executions_overlap_instead_of_queueing_behind_jobs() {
        // 10 tasks that each block 300 ms inside an execution, 2 jobs: serialised this would
        // take 1.5 s; demoted after 20 ms they overlap.
        let start = Instant::now();
        run_tasks(10, 2, Duration::from_millis(20), |_, context| {
            context.executing(|| std::thread::sleep(Duration::from_millis(300)));
        });
        let elapsed = start.elapsed();
        assert!(elapsed < Duration::from_millis(900), "took {elapsed:?}");
    }

    #[test]
    fn time_outside_executions_is_not_demoted() {
        let (running, peak) = (AtomicUsize::new(0), AtomicUsize::new(0));
        run_tasks(6, 2, Duration::from_millis(5), |_, _| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(30));
            running.fetch_sub(1, Ordering::SeqCst);
        });
        assert_eq!(peak.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_panicking_task_does_not_hang_the_others() {
        let finished = AtomicUsize::new(0);
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
            run_tasks(20, 2, Duration::from_secs(1), |i, _| {
                if i == 3 {
                    panic!("task 3 fails");
                }
                finished.fetch_add(1, Ordering::SeqCst);
            })
        }));
        assert!(result.is_err());
        assert_eq!(finished.load(Ordering::SeqCst), 19);
    }
}

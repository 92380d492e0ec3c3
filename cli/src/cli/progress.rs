//! Live progress per tier, in files (the engine's `Progress`): bars on a
//! terminal, a plain line every few seconds otherwise, nothing with
//! `--quiet`.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use kiln::engine::{ImportId, Progress, Tier, TierProgress};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

const LINE_EVERY: Duration = Duration::from_secs(3);

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Display {
    /// Nothing.
    Quiet,
    /// Bars redrawn in place (stderr is a terminal).
    Bars,
    /// One plain line every few seconds (stderr is a pipe or a file).
    Lines,
}

impl Display {
    pub(crate) fn choose(quiet: bool) -> Display {
        if quiet {
            Display::Quiet
        } else if std::io::stderr().is_terminal() {
            Display::Bars
        } else {
            Display::Lines
        }
    }
}

/// Draws progress until told to stop.
pub(crate) struct Renderer {
    stop: watch::Sender<Option<Progress>>,
    task: Option<JoinHandle<()>>,
}

impl Renderer {
    /// Starts drawing the tiers up to `max_tier` of the given imports (all
    /// imports when `None`).
    pub(crate) fn start(
        progress: watch::Receiver<Progress>,
        imports: Option<Vec<ImportId>>,
        max_tier: Tier,
        display: Display,
    ) -> Renderer {
        let (stop, stopped) = watch::channel(None);
        let task = match display {
            Display::Quiet => None,
            _ => Some(tokio::spawn(draw(
                progress, stopped, imports, max_tier, display,
            ))),
        };
        Renderer { stop, task }
    }

    /// Draws `last` (a fresh snapshot, when one could be read) and stops.
    pub(crate) async fn finish(mut self, last: Option<Progress>) {
        let last = last.unwrap_or_default();
        let _ = self.stop.send(Some(last));
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// The tiers of the imports we follow, summed.
fn tiers_of(progress: &Progress, imports: Option<&[ImportId]>) -> BTreeMap<Tier, TierProgress> {
    let Some(ids) = imports else {
        return progress.tiers.clone();
    };
    let mut sum: BTreeMap<Tier, TierProgress> = BTreeMap::new();
    for import in progress.imports.iter().filter(|i| ids.contains(&i.id)) {
        for (tier, p) in &import.tiers {
            let s = sum.entry(*tier).or_default();
            s.total += p.total;
            s.done += p.done;
            s.running += p.running;
            s.retrying += p.retrying;
            s.dead += p.dead;
            s.rate += p.rate;
            s.eta = match (s.eta, p.eta) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
    }
    sum
}

fn detail(p: &TierProgress) -> String {
    let mut text = format!(
        "running {}, retrying {}, dead {}",
        p.running, p.retrying, p.dead
    );
    if p.rate > 0.0 {
        text.push_str(&format!(", {:.1} files/s", p.rate));
    }
    if let Some(eta) = p.eta
        && p.remaining() > 0
    {
        text.push_str(&format!(", ETA {}s", eta.as_secs()));
    }
    text
}

async fn draw(
    mut progress: watch::Receiver<Progress>,
    mut stopped: watch::Receiver<Option<Progress>>,
    imports: Option<Vec<ImportId>>,
    max_tier: Tier,
    display: Display,
) {
    let tiers: Vec<(Tier, &str)> = max_tier.and_below().map(|t| (t, t.name())).collect();
    let bars = (display == Display::Bars).then(|| {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{prefix:18} [{bar:30.cyan/blue}] {pos:>6}/{len:<6} files {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        tiers
            .iter()
            .map(|(t, name)| {
                let bar = multi.add(ProgressBar::new(0));
                bar.set_style(style.clone());
                bar.set_prefix(format!("tier {t} {name}"));
                (*t, bar)
            })
            .collect::<Vec<_>>()
    });
    let mut last_line = Instant::now();
    loop {
        let last = stopped.borrow().clone();
        let finishing = last.is_some();
        let snapshot = match &last {
            Some(last) => tiers_of(last, imports.as_deref()),
            None => tiers_of(&progress.borrow_and_update(), imports.as_deref()),
        };
        if let Some(bars) = &bars {
            for (tier, bar) in bars {
                let p = snapshot.get(tier).copied().unwrap_or_default();
                bar.set_length(p.total);
                bar.set_position(p.done + p.dead);
                bar.set_message(detail(&p));
            }
        } else if finishing || last_line.elapsed() >= LINE_EVERY {
            last_line = Instant::now();
            let parts: Vec<String> = tiers
                .iter()
                .map(|(t, name)| {
                    let p = snapshot.get(t).copied().unwrap_or_default();
                    format!(
                        "tier {t} {name} {}/{} files ({})",
                        p.done + p.dead,
                        p.total,
                        detail(&p)
                    )
                })
                .collect();
            eprintln!("{}", parts.join(" | "));
        }
        if finishing {
            if let Some(bars) = bars {
                for (_, bar) in bars {
                    bar.finish();
                }
            }
            return;
        }
        tokio::select! {
            changed = progress.changed() => {
                if changed.is_err() {
                    // The engine is gone; wait for the stop signal only.
                    let _ = stopped.changed().await;
                }
            }
            _ = stopped.changed() => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

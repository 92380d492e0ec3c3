//! The gallery in headless Chromium: a script installed before the page's
//! own that notes when the first thumbnail of the grid is drawn and what
//! the page's event stream says, and a scroll through the whole grid.
//!
//! The grid (`static/app.js`) is `<div id="grid">` holding `<a
//! class="tile" data-index=I>` tiles, each with an `<img>` of the asset's
//! thumbnail; rows are `CELL + GAP` = 188 px high, and only the rows in and
//! near the viewport exist.

use kiln_testkit::browser::{Browser, Page};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The grid's smallest cell and the gap between cells, in CSS pixels:
/// `CELL` and `GAP` of `static/app.js`.
const CELL: u32 = 180;
const GAP: u32 = 8;

/// The script every document of the page runs first. It fills
/// `window.__kilnBench`: `first_epoch_ms` and `first_page_ms` (wall clock,
/// and time since the navigation started) at the animation frame after the
/// first grid thumbnail was loaded and decoded; `all_epoch_ms` when a
/// progress message of the page's own event stream (`/api/events`) first
/// counted `expected` browsable assets, and `messages`, `browsable` (the
/// last count) besides.
fn observer(expected: u64) -> String {
    format!(
        r#"(() => {{
  const bench = {{ first_epoch_ms: null, first_page_ms: null, all_epoch_ms: null, messages: 0, browsable: null }};
  window.__kilnBench = bench;
  performance.setResourceTimingBufferSize(1000000);
  document.addEventListener('load', (event) => {{
    const img = event.target;
    if (bench.first_epoch_ms !== null || !(img instanceof HTMLImageElement)) return;
    if (!img.closest('#grid') || img.naturalWidth === 0) return;
    img.decode().catch(() => {{}}).then(() => requestAnimationFrame(() => {{
      if (bench.first_epoch_ms === null) {{
        bench.first_epoch_ms = Date.now();
        bench.first_page_ms = performance.now();
      }}
    }}));
  }}, true);
  const Native = window.EventSource;
  window.EventSource = class extends Native {{
    constructor(url, options) {{
      super(url, options);
      this.addEventListener('progress', (event) => {{
        try {{
          const p = JSON.parse(event.data);
          bench.messages += 1;
          bench.browsable = p.browsable;
          if (bench.all_epoch_ms === null && p.browsable >= {expected}) bench.all_epoch_ms = Date.now();
        }} catch (e) {{ /* not ours to judge */ }}
      }});
    }}
  }};
}})()"#
    )
}

/// A fresh headless Chromium whose page runs [`observer`] in every
/// document; it opens nothing yet.
pub(crate) fn launch(expected: u64) -> Result<Browser, String> {
    let mut browser = Browser::launch().map_err(|e| format!("cannot start Chromium: {e}"))?;
    browser
        .command(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": observer(expected) }),
        )
        .map_err(|e| format!("cannot install the page's observer: {e}"))?;
    Ok(browser)
}

/// What the observer noted so far.
pub(crate) fn noted(page: &mut Page) -> Result<Value, String> {
    page.eval("window.__kilnBench || null")
        .map_err(|e| format!("cannot read the page: {e}"))
}

/// Waits until `field` of the observer's notes is set; returns it.
pub(crate) fn wait_noted(page: &mut Page, field: &str, timeout: Duration) -> Result<f64, String> {
    let value = page
        .wait_for(
            &format!("window.__kilnBench && window.__kilnBench.{field}"),
            timeout,
        )
        .map_err(|e| format!("waiting for {field}: {e}"))?;
    value
        .as_f64()
        .ok_or_else(|| format!("{field} is not a number: {value}"))
}

/// What a scroll through the whole grid saw.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Scroll {
    /// Viewport-high steps taken.
    pub(crate) steps: u64,
    /// Distinct thumbnails the page fetched.
    pub(crate) thumbnails: u64,
    /// Tiles whose image did not decode.
    pub(crate) broken: u64,
    /// Distinct assets whose tiles were seen.
    pub(crate) distinct: u64,
    /// How long the scroll took.
    pub(crate) took: Duration,
}

/// Scrolls the grid of `total` assets from top to bottom, a viewport at a
/// time, waiting at each step until every tile in view exists and its
/// thumbnail is loaded (the listing's pages arrive as they are needed).
pub(crate) fn scroll_grid(page: &mut Page, total: u64) -> Result<Scroll, String> {
    let ready = format!(
        r#"(() => {{
  const g = document.getElementById('grid');
  if (!g) return false;
  const top = g.getBoundingClientRect().top + scrollY;
  // As many columns as cells of the smallest size fit; the tiles then
  // share out the row's width, and the page sets the cell it chose.
  const cols = Math.max(1, Math.floor((g.clientWidth + {GAP}) / ({CELL} + {GAP})));
  const row = (parseFloat(g.style.getPropertyValue('--cell')) || {CELL}) + {GAP};
  const first = Math.max(0, Math.floor((scrollY - top) / row));
  const last = Math.floor((scrollY + innerHeight - top - 1) / row);
  const lo = first * cols, hi = Math.min({total}, (last + 1) * cols);
  let seen = 0, broken = 0;
  const ids = [];
  for (const tile of g.children) {{
    const i = Number(tile.dataset.index);
    if (!(i >= lo && i < hi)) continue;
    const img = tile.querySelector('img');
    if (!img || !img.complete) return false;
    if (img.naturalWidth === 0) broken += 1;
    ids.push(Number(tile.dataset.id));
    seen += 1;
  }}
  return seen === Math.max(0, hi - lo) ? {{ broken, ids, bottom: scrollY + innerHeight >= document.documentElement.scrollHeight - 1 }} : false;
}})()"#
    );
    let started = Instant::now();
    let mut scroll = Scroll::default();
    let mut ids = std::collections::HashSet::new();
    let view = page
        .eval("innerHeight")
        .map_err(|e| format!("cannot read the viewport: {e}"))?
        .as_f64()
        .unwrap_or(900.0);
    let mut y = 0.0;
    loop {
        page.scroll_to(y)
            .map_err(|e| format!("cannot scroll to {y}: {e}"))?;
        let state = page
            .wait_for(&ready, Duration::from_secs(60))
            .map_err(|e| format!("the grid at {y} px did not load: {e}"))?;
        scroll.steps += 1;
        scroll.broken += state["broken"].as_u64().unwrap_or(0);
        if let Some(list) = state["ids"].as_array() {
            ids.extend(list.iter().filter_map(Value::as_u64));
        }
        if state["bottom"] == true {
            break;
        }
        y += view;
    }
    scroll.took = started.elapsed();
    scroll.distinct = ids.len() as u64;
    scroll.thumbnails = page
        .eval(
            "new Set(performance.getEntriesByType('resource').map((e) => e.name).filter((n) => n.includes('/img/'))).size",
        )
        .map_err(|e| format!("cannot count the thumbnails: {e}"))?
        .as_u64()
        .unwrap_or(0);
    Ok(scroll)
}
